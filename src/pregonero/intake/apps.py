from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntakeConfig(AppConfig):
    name = "pregonero.intake"
    verbose_name = _("Solicitudes recibidas por correo y WhatsApp")
