"""Plain substitution of the invitation's placeholders: ``{nombre}`` becomes the guest's name, nothing more.

No template engine runs on staff text, so nothing in it can execute; an unknown placeholder is an error the
form shows, never a silent blank.
"""

import re
from dataclasses import dataclass
from functools import lru_cache

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
    date, time = event_date_words(campaign.starts_at, timezone.get_current_timezone_name())
    return {
        "tratamiento": guest.honorific,
        "nombre": guest.name,
        "cargo": guest.position,
        "organizacion": guest.organization,
        "evento": campaign.title,
        "fecha": date,
        "hora": time,
        "lugar": campaign.venue,
    }


@lru_cache(maxsize=1024)
def event_date_words(starts_at, zone: str) -> tuple[str, str]:
    """("sábado 12 de diciembre de 2026", "19:00"): Spanish writes day and month names in lower case. Worded once
    per event and time zone, not once per guest."""
    if starts_at is None:
        return "", ""
    starts = timezone.localtime(starts_at)
    with translation.override(settings.LANGUAGE_CODE):
        return formats.date_format(starts, "l j \\d\\e F \\d\\e Y").lower(), formats.time_format(starts, "H:i")
