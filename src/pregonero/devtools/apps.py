from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DevtoolsConfig(AppConfig):
    name = "pregonero.devtools"
    verbose_name = _("Herramientas del modo integrado")
