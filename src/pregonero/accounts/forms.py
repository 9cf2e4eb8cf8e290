from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": _("Usuario o contraseña incorrectos. Revise mayúsculas y minúsculas."),
        "inactive": _("Esta cuenta está desactivada; pida ayuda al área de sistemas."),
    }
