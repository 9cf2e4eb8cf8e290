"""Who sees personal data: the database team keeps the directory; the Director may consult it."""

import functools

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from pregonero.accounts.roles import Role


def can_see_directory(user) -> bool:
    return user.is_authenticated and (user.has_role(Role.DATABASE) or user.has_role(Role.DIRECTOR))


def can_edit_directory(user) -> bool:
    return user.is_authenticated and user.has_role(Role.DATABASE)


def requiring(check, message):
    """A view decorator: login first, then ``check(user)`` or 403 with ``message()`` (a lazy Spanish text)."""

    def decorator(view):
        @login_required
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied(message())
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


_requiring = requiring  # the name this module's callers used first

directory_viewer_required = requiring(
    can_see_directory, lambda: _("El directorio de datos personales es solo para Base de Datos y la Dirección.")
)
directory_editor_required = requiring(
    can_edit_directory, lambda: _("Solo la Jefatura de Base de Datos modifica el directorio.")
)
