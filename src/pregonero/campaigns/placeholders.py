"""Plain substitution of the invitation's placeholders: ``{nombre}`` becomes the guest's name, nothing more.

No template engine runs on staff text, so nothing in it can execute; an unknown placeholder is an error the
form shows, never a silent blank.
"""

import re
from dataclasses import dataclass

from django.conf import settings
from django.utils import formats, timezone, translation
from django.utils.translation import gettext_lazy as _

PLACEHOLDERS = {
    "tratamiento": _("tratamiento del invitado (Lic., Ing., Mtra.…)"),
    "nombre": _("nombre del invitado"),
    "cargo": _("cargo del invitado"),
    "organizacion": _("organización del invitado"),
    "evento": _("nombre del evento"),
    "fecha": _("fecha del evento"),
    "hora": _("hora del evento"),
    "lugar": _("lugar del evento"),
}
PLACEHOLDER_RE = re.compile(r"\{([^{}\s]*)\}")


def unknown_placeholders(text: str) -> list[str]:
    return sorted({name for name in PLACEHOLDER_RE.findall(text) if name not in PLACEHOLDERS})


def fill(text: str, values: dict[str, str]) -> str:
    return PLACEHOLDER_RE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


@dataclass(frozen=True)
class SampleGuest:
    honorific: str = "Lic."
    name: str = "María Fernanda López Hernández"
    position: str = "Directora General"
    organization: str = "Cámara Nacional de Comercio de Cancún"


def values_for(campaign, guest) -> dict[str, str]:
    """Guests are invited in Spanish whatever language the staff member's screen uses."""
    starts = timezone.localtime(campaign.starts_at) if campaign.starts_at else None
    with translation.override(settings.LANGUAGE_CODE):
        return {
            "tratamiento": guest.honorific,
            "nombre": guest.name,
            "cargo": guest.position,
            "organizacion": guest.organization,
            "evento": campaign.title,
            # "sábado 12 de diciembre de 2026": Spanish writes day and month names in lower case.
            "fecha": formats.date_format(starts, "l j \\d\\e F \\d\\e Y").lower() if starts else "",
            "hora": formats.time_format(starts, "H:i") if starts else "",
            "lugar": campaign.venue,
        }
