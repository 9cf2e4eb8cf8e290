"""The emulator's message templates: the office's seeded templates and Meta's GET output shape (reference §6)."""

from __future__ import annotations

import base64
import copy
import re
from dataclasses import dataclass, field

PLACEHOLDER = re.compile(r"\{\{\s*([a-z0-9_]+)\s*\}\}")
DEFAULT_FIELDS = ("name", "status", "category", "language", "components", "parameter_format", "id")

# The guest's personal page (rsvp: the invitation, the answer, the calendar file, the privacy notice and the opt-out),
# the third button of the invitation and the reminder: a URL button whose dynamic suffix is the invitation's token
# (reference §2a). Meta fixes the rest of the URL when it approves the template: the office registers its own
# SITE_URL there, and the emulator seeds it with its `site_url` (``seeded``) in place of this placeholder host.
PLACEHOLDER_SITE = "https://invitaciones.example"
PERSONAL_PAGE_BUTTON = {"type": "URL", "text": "Ver invitación", "url": f"{PLACEHOLDER_SITE}/i/{{{{1}}}}",
                        "example": [f"{PLACEHOLDER_SITE}/i/Xq3k9PzL0a2Bv7WcRt5YhA"]}

# The office's invitation. Parameters, in order: {{1}} honorific and name ("Lic. María Fernanda López Hernández"),
# {{2}} event title, {{3}} date in words ("sábado 12 de diciembre de 2026"), {{4}} time ("19:00"), {{5}} venue.
# MARKETING: an invitation is promotional in Meta's eyes (reference §6), which brings per-user limits and 131050.
INVITATION = {
    "name": "invitacion_evento",
    "language": "es_MX",
    "status": "APPROVED",
    "category": "MARKETING",
    "components": [
        {"type": "HEADER", "format": "IMAGE", "example": {"header_handle": ["4::aW1hZ2UvanBlZw==:ARb-emulator"]}},
        {
            "type": "BODY",
            "text": "{{1}}:\n\nLa Dirección de Relaciones Públicas tiene el honor de invitarle a *{{2}}*, que se "
                    "llevará a cabo el {{3}} a las {{4}} horas en {{5}}.\n\nLe agradeceremos confirmar su "
                    "asistencia con los botones de abajo. En «Ver invitación» están los detalles del evento y el "
                    "aviso de privacidad.",
            "example": {"body_text": [["Lic. María Fernanda López Hernández", "Informe de Gobierno",
                                       "sábado 12 de diciembre de 2026", "19:00", "Parque de las Palapas"]]},
        },
        {"type": "FOOTER", "text": "Si no desea recibir más invitaciones, responda BAJA."},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Confirmo asistencia"},
                                        {"type": "QUICK_REPLY", "text": "No podré asistir"},
                                        PERSONAL_PAGE_BUTTON]},
    ],
}

# The approved reminder to guests who have not answered (sending/reminders.py), with the invitation's buttons so
# the guest can answer from it; the same parameters as the invitation.
REMINDER = {
    "name": "recordatorio_evento",
    "language": "es_MX",
    "status": "APPROVED",
    "category": "UTILITY",
    "components": [
        {"type": "BODY", "text": "{{1}}: le recordamos que {{2}} es el {{3}} a las {{4}} horas en {{5}}. "
                                 "Aún no tenemos su respuesta: le agradeceremos confirmar con los botones de "
                                 "abajo. En «Ver invitación» están los detalles y el aviso de privacidad.",
         "example": {"body_text": [["Lic. María Fernanda López Hernández", "Informe de Gobierno",
                                    "sábado 12 de diciembre de 2026", "19:00", "Parque de las Palapas"]]}},
        {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Confirmo asistencia"},
                                        {"type": "QUICK_REPLY", "text": "No podré asistir"},
                                        PERSONAL_PAGE_BUTTON]},
    ],
}
# A rejected promotional variant, and (below) a thank-you still in review: the UI must show both states.
REJECTED = {
    "name": "invitacion_evento_promo",
    "language": "es_MX",
    "status": "REJECTED",
    "category": "MARKETING",
    "rejected_reason": "INVALID_FORMAT",
    "components": [{"type": "BODY", "text": "{{1}} {{2}}"}],
}
# An approved cancellation notice (DESIGN §2: optional notice to invitees when a request is cancelled).
CANCELLATION = {
    "name": "cancelacion_evento",
    "language": "es_MX",
    "status": "APPROVED",
    "category": "UTILITY",
    "components": [
        {"type": "BODY", "text": "{{1}}: lamentamos informarle que {{2}}, previsto para el {{3}}, ha sido "
                                 "cancelado. Le ofrecemos una disculpa."},
    ],
}
# A thank-you still in review (PENDING: listed, not sendable).
THANKS = {
    "name": "agradecimiento_evento",
    "language": "es_MX",
    "status": "PENDING",
    "category": "UTILITY",
    "components": [{"type": "BODY", "text": "{{1}}: gracias por acompañarnos en {{2}}."}],
}
# The acknowledgement of a request that reached the office's WhatsApp (intake/whatsapp.py), for when the
# requester's 24-hour window has closed and free text would fail with 131047. {{1}} is the folio ("RP-2026-0042").
ACKNOWLEDGEMENT = {
    "name": "acuse_solicitud",
    "language": "es_MX",
    "status": "APPROVED",
    "category": "UTILITY",
    "components": [
        {"type": "BODY", "text": "Dirección de Relaciones Públicas: su solicitud fue recibida con el folio {{1}}. "
                                 "Le informaremos por este medio cómo avanza.",
         "example": {"body_text": [["RP-2026-0042"]]}},
    ],
}
# New templates go last: the ids of the others (numbered in this order) stay what tests and demos saw.
SEEDED = (INVITATION, REMINDER, REJECTED, CANCELLATION, THANKS, ACKNOWLEDGEMENT)


def seeded(site_url: str) -> list[dict]:
    """The seeded templates as an office at ``site_url`` would have registered them: its URL buttons point there."""
    site_url = site_url.rstrip("/")
    if site_url == PLACEHOLDER_SITE:
        return list(SEEDED)
    moved = copy.deepcopy(list(SEEDED))
    for template in moved:
        for component in template["components"]:
            for button in component.get("buttons", []):
                if button.get("type") == "URL":
                    button["url"] = button["url"].replace(PLACEHOLDER_SITE, site_url, 1)
                    button["example"] = [url.replace(PLACEHOLDER_SITE, site_url, 1) for url in button["example"]]
    return moved


@dataclass
class Template:
    id: str
    name: str
    language: str
    status: str
    category: str
    components: list[dict]
    parameter_format: str = "POSITIONAL"
    extra: dict = field(default_factory=dict)

    def component(self, kind: str) -> dict | None:
        return next((c for c in self.components if c.get("type", "").upper() == kind), None)

    @property
    def body_parameter_count(self) -> int:
        body = self.component("BODY")
        return len(set(PLACEHOLDER.findall(body.get("text", "")))) if body else 0

    @property
    def header_format(self) -> str | None:
        header = self.component("HEADER")
        return header.get("format", "TEXT").upper() if header else None

    @property
    def header_parameter_count(self) -> int:
        header = self.component("HEADER")
        if not header:
            return 0
        if self.header_format == "TEXT":
            return len(set(PLACEHOLDER.findall(header.get("text", ""))))
        return 1 if self.header_format in {"IMAGE", "VIDEO", "DOCUMENT", "GIF"} else 0

    @property
    def buttons(self) -> list[dict]:
        component = self.component("BUTTONS")
        return list(component.get("buttons", [])) if component else []

    def as_json(self, wanted: tuple[str, ...] = DEFAULT_FIELDS) -> dict:
        everything = {
            "name": self.name, "status": self.status, "category": self.category, "language": self.language,
            "components": self.components, "parameter_format": self.parameter_format, "id": self.id, **self.extra,
        }
        # Meta always returns the id, whatever `fields` asked for.
        return {key: everything[key] for key in (*wanted, "id") if key in everything}


class TemplateStore:
    """Templates keyed by id, looked up by (name, language) as the send endpoint does."""

    def __init__(self, seeds: list[dict]):
        self.templates: dict[str, Template] = {}
        for number, seed in enumerate(seeds, start=1):
            self.add(seed, template_id=str(1689556908129800 + number))

    def add(self, seed: dict, template_id: str) -> Template:
        known = {"name", "language", "status", "category", "components", "parameter_format"}
        template = Template(
            id=str(seed.get("id", template_id)), name=seed["name"], language=seed["language"],
            status=seed.get("status", "APPROVED"), category=seed.get("category", "MARKETING"),
            components=seed.get("components", []), parameter_format=seed.get("parameter_format", "POSITIONAL"),
            extra={k: v for k, v in seed.items() if k not in known | {"id"}},
        )
        self.templates[template.id] = template
        return template

    def find(self, name: str, language: str) -> Template | None:
        return next((t for t in self.templates.values() if t.name == name and t.language == language), None)

    def get(self, template_id: str) -> Template | None:
        return self.templates.get(template_id)

    def matching(self, name: str | None = None, status: str | None = None,
                 language: str | None = None) -> list[Template]:
        statuses = {s.strip().upper() for s in status.split(",")} if status else None
        found = []
        for template in sorted(self.templates.values(), key=lambda t: t.id):
            if name and name.lower() not in template.name.lower():
                continue
            if statuses and template.status not in statuses:
                continue
            if language and template.language != language:
                continue
            found.append(template)
        return found


def encode_cursor(position: int) -> str:
    return base64.urlsafe_b64encode(f"pos:{position}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        text = base64.urlsafe_b64decode(padded.encode()).decode()
        return max(int(text.removeprefix("pos:")), 0)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("invalid cursor") from exc


def page(items: list, *, limit: int, after: str | None, before: str | None) -> tuple[list, int, bool, bool]:
    """Cursor paging like the Graph API: returns (slice, start index, has_previous, has_next)."""
    if before:
        end = decode_cursor(before)
        start = max(end - limit, 0)
    else:
        start = decode_cursor(after) + 1 if after else 0
        end = start + limit
    chunk = items[start:end]
    return chunk, start, start > 0, start + len(chunk) < len(items)
