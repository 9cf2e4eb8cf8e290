"""Signing in: the password, then, for the roles in OTP_REQUIRED_ROLES, the authenticator app's code.

``login()`` is called only once every step is done. In between, the session holds the pending person's id for a
few minutes, which opens no page but the code step: the rest of the site still sees an anonymous visitor.
"""

import time

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth import login as auth_login
from django.contrib.auth.views import LoginView
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters

from .forms import CodeForm, LoginForm
from .lockout import LOCKED_MESSAGE, locked_out, login_failed, login_succeeded
from .models import SecondFactor
from .otp import (
    new_secret, provisioning_uri, qr_svg, recovery_codes_left, seal, second_factor_check, second_factor_enrol,
    second_factor_required, unseal,
)

PENDING = "pregonero_pending_sign_in"
PENDING_SECONDS = 5 * 60


class SignInView(LoginView):
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        user = form.get_user()
        if not second_factor_required(user):
            login_succeeded(user.get_username())
            return super().form_valid(form)
        self.request.session[PENDING] = {
            "user": user.pk, "backend": user.backend, "next": self.get_success_url(), "since": int(time.time()),
        }
        return redirect("second_step")


def pending_sign_in(request) -> tuple:
    """(user, pending) while a password step is waiting for its code, else (None, None)."""
    pending = request.session.get(PENDING)
    if not pending or time.time() - pending["since"] > PENDING_SECONDS:
        return None, None
    user = get_user_model().objects.filter(pk=pending["user"], is_active=True).first()
    return (user, pending) if user else (None, None)


def finish_sign_in(request, user, pending) -> None:
    del request.session[PENDING]
    auth_login(request, user, backend=pending["backend"])
    login_succeeded(user.get_username())


def refuse_locked(request):
    request.session.pop(PENDING, None)
    messages.error(request, LOCKED_MESSAGE)
    return redirect("login")


@sensitive_post_parameters()
@never_cache
def second_step(request):
    """The code after the password: enrolment (QR code, secret, first code) the first time, the app's code after."""
    user, pending = pending_sign_in(request)
    if user is None:
        if request.session.pop(PENDING, None):  # expired: say why the password is asked again
            messages.info(request, _("Escriba de nuevo su usuario y contraseña."))
        return redirect("login")
    enrolled = SecondFactor.objects.filter(user=user).exists()
    if not enrolled and "secret" not in pending:
        pending["secret"] = seal(new_secret())  # kept sealed in the session until a first code confirms it
        request.session.modified = True
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if locked_out(request, user.get_username()):
            return refuse_locked(request)
        code = form.cleaned_data["code"]
        if enrolled and (used := second_factor_check(user=user, code=code)):
            finish_sign_in(request, user, pending)
            if used == "recovery":
                left = recovery_codes_left(user)
                messages.warning(request, ngettext(
                    "Entró con un código de respaldo; le queda %(count)d. Si perdió su teléfono, pida al área de "
                    "sistemas que restablezca su segundo factor.",
                    "Entró con un código de respaldo; le quedan %(count)d. Si perdió su teléfono, pida al área de "
                    "sistemas que restablezca su segundo factor.", left) % {"count": left})
            return redirect(pending["next"])
        if not enrolled and (codes := second_factor_enrol(user=user, secret=unseal(pending["secret"]), code=code)):
            finish_sign_in(request, user, pending)
            return render(request, "accounts/recovery_codes.html", {"codes": codes, "next": pending["next"]})
        if login_failed(request, user.get_username(), step="code"):
            return refuse_locked(request)
        form.add_error("code", _("El código no es correcto o ya se usó. Escriba el que su aplicación muestra ahora."))
    if enrolled:
        return render(request, "accounts/second_step.html", {"form": form})
    secret = unseal(pending["secret"])
    return render(request, "accounts/second_factor_enrol.html", {
        "form": form, "qr": qr_svg(provisioning_uri(user, secret)),
        "secret": " ".join(secret[i:i + 4] for i in range(0, len(secret), 4)),
    })
