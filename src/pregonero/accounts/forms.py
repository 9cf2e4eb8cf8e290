from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_variables

from .lockout import LOCKED_MESSAGE, locked_out, login_failed


class LoginForm(AuthenticationForm):
    """Django's sign-in form behind the lock-out: a locked name or address is refused before any password check."""

    error_messages = {
        "invalid_login": _("Usuario o contraseña incorrectos. Revise mayúsculas y minúsculas."),
        "inactive": _("Esta cuenta está desactivada; pida ayuda al área de sistemas."),
        "locked": LOCKED_MESSAGE,
    }

    @sensitive_variables()
    def clean(self):
        username = self.cleaned_data.get("username")
        if username is None or not self.cleaned_data.get("password"):
            return super().clean()
        if locked_out(self.request, username):
            raise ValidationError(self.error_messages["locked"], code="locked")
        try:
            return super().clean()
        except ValidationError as error:
            if error.code == "invalid_login" and login_failed(self.request, username, step="password"):
                raise ValidationError(self.error_messages["locked"], code="locked") from None
            raise


class CodeForm(forms.Form):
    """The six digits the authenticator app shows now, or one of the recovery codes."""

    code = forms.CharField(
        label=_("Código"), max_length=20, strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "autofocus": True, "inputmode": "text",
                                      "spellcheck": "false", "autocapitalize": "off"}),
    )
