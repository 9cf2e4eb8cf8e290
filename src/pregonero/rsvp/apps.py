from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RsvpConfig(AppConfig):
    name = "pregonero.rsvp"
    verbose_name = _("Invitaciones y confirmaciones")
