"""The proof as guests will see it: a WhatsApp bubble and an e-mail, filled from a sample guest."""

import re

from django.utils.html import escape, linebreaks
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from pregonero.directory.models import Contact
from pregonero.sending.services import proof_page_button

from .placeholders import SampleGuest, fill, values_for

QUICK_REPLIES = (_("Confirmo asistencia"), _("No podré asistir"))
# WhatsApp's own light markup, applied after escaping so it can only ever produce these three tags.
WHATSAPP_MARKUP = [
    (re.compile(r"\*(\S(?:[^*\n]*\S)?)\*"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w])_(\S(?:[^_\n]*\S)?)_(?![\w])"), r"<em>\1</em>"),
    (re.compile(r"~(\S(?:[^~\n]*\S)?)~"), r"<s>\1</s>"),
]


def whatsapp_html(text: str) -> SafeString:
    html = escape(text)
    for pattern, replacement in WHATSAPP_MARKUP:
        html = pattern.sub(replacement, html)
    return mark_safe(html.replace("\n", "<br>"))  # built from escaped text only  # nosec B308 B703


def sample_guest(campaign):
    """A real guest from the requested sectors when the directory has one, else a typical invitee."""
    contact = Contact.objects.filter(sectors__in=campaign.target_sectors.all()).order_by("pk").first()
    return contact or SampleGuest()


def render_proof(campaign, proof, guest=None) -> dict:
    guest = guest or sample_guest(campaign)
    values = values_for(campaign, guest)
    return {
        "guest": guest,
        "image": campaign.invitation_image,
        "whatsapp_html": whatsapp_html(fill(proof.whatsapp_body, values)),
        "quick_replies": QUICK_REPLIES,
        "page_button": proof_page_button(proof) is not None,  # "Ver invitación", when the template has it
        "email_subject": fill(proof.email_subject, values),
        # linebreaks(autoescape=True) escapes the text itself; only its <p> and <br> are markup.
        "email_html": mark_safe(linebreaks(fill(proof.email_body, values), autoescape=True)),  # nosec B308 B703
    }
