"""The invitation as an iCalendar file (RFC 5545) for "Agregar a mi calendario", written by hand: one event.

Lines end in CRLF and are folded at 75 octets; text values escape backslashes, semicolons, commas and newlines.
"""

from datetime import UTC, timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from pregonero.campaigns.models import State
from pregonero.sending.services import rsvp_link

from .models import Invitation

EVENT_LENGTH = timedelta(hours=2)  # campaigns carry a start only; calendars need an end


def escape_text(value: str) -> str:
    value = str(value).replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return value.replace("\r\n", "\\n").replace("\r", "\\n").replace("\n", "\\n")


def fold(line: str) -> str:
    """Splits a content line into chunks of at most 75 octets, never inside a UTF-8 character (§3.1)."""
    chunks, current, size = [], "", 0
    for char in line:
        width = len(char.encode())
        if size + width > (75 if not chunks else 74):  # continuation lines start with a space
            chunks.append(current)
            current, size = "", 0
        current += char
        size += width
    chunks.append(current)
    return "\r\n ".join(chunks)


def utc(moment) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def invitation_ics(invitation: Invitation) -> str:
    campaign = invitation.campaign
    starts = campaign.starts_at
    link = rsvp_link(invitation)
    dress_code = campaign.dress_code and _("Código de vestimenta: %(code)s") % {"code": campaign.dress_code}
    details = [dress_code, link]
    place = ", ".join(part for part in (campaign.venue, campaign.address) if part)
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Pregonero//Invitaciones//ES", "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH", "BEGIN:VEVENT",
        f"UID:{campaign.folio}@{urlsplit(settings.SITE_URL).hostname or 'pregonero'}",
        f"DTSTAMP:{utc(timezone.now())}", f"DTSTART:{utc(starts)}", f"DTEND:{utc(starts + EVENT_LENGTH)}",
        f"SUMMARY:{escape_text(campaign.title)}",
        *([f"LOCATION:{escape_text(place)}"] if place else []),
        f"DESCRIPTION:{escape_text(chr(10).join(part for part in details if part))}",
        f"URL:{link}",
        f"STATUS:{'CANCELLED' if campaign.state == State.CANCELLED else 'CONFIRMED'}",
        "END:VEVENT", "END:VCALENDAR",
    ]
    return "".join(fold(line) + "\r\n" for line in lines)
