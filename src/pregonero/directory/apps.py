from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DirectoryConfig(AppConfig):
    name = "pregonero.directory"
    verbose_name = _("Directorio de datos personales")
