import functools

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from .roles import is_office_staff


def office_staff_required(view):
    """Signed-in office staff only; a requesting department gets a clear 403, not a login loop."""

    @login_required
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not is_office_staff(request.user):
            raise PermissionDenied(_("Esta página es solo para el personal de Relaciones Públicas."))
        return view(request, *args, **kwargs)

    return wrapper
