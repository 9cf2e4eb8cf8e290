from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SendingConfig(AppConfig):
    name = "pregonero.sending"
    verbose_name = _("Envíos")
