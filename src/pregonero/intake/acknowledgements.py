"""Telling the requester, by the channel they wrote from, that their request was registered and its folio.

Runs as a task after the registration commits, so a slow SMTP server or WhatsApp API never holds the
assistant's page. E-mail answers in the sender's thread (In-Reply-To / References of their message); WhatsApp
goes through the WhatsApp intake's `acknowledge(draft, folio)`. `Draft.acknowledged_at` records it once.
"""

import logging

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.tasks import task
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from .models import Draft, Source, plain_subject

log = logging.getLogger(__name__)


@task()
def acknowledge_registration(draft_id: int) -> str:
    return draft_acknowledge(draft_id)


def draft_acknowledge(draft_id: int) -> str:
    """Sends the acknowledgement unless it went already; returns what happened (for the task's result)."""
    draft = Draft.objects.select_related("campaign", "campaign__department").get(pk=draft_id)
    if draft.acknowledged_at is not None or draft.campaign is None:
        return "skipped"
    if draft.source != Source.EMAIL:
        acknowledge = whatsapp_acknowledge()
        if acknowledge is None:
            log.warning("draft %s: WhatsApp acknowledgement unavailable (no intake.whatsapp.acknowledge)", draft.pk)
            return "unavailable"
        # It records acknowledged_at itself, and only when WhatsApp accepted the message.
        return "sent" if acknowledge(draft, draft.campaign.folio) else "failed"
    if "@" not in draft.sender_address:
        log.warning("draft %s: no e-mail address to acknowledge to", draft.pk)
        return "no address"
    with translation.override(settings.LANGUAGE_CODE):
        acknowledgement_email(draft).send()
    Draft.objects.filter(pk=draft.pk, acknowledged_at__isnull=True).update(acknowledged_at=timezone.now())
    log.info("draft %s: requester told of folio %s by e-mail", draft.pk, draft.campaign.folio)
    return "sent"


def whatsapp_acknowledge():
    """The WhatsApp intake's acknowledgement, imported only when needed (it lives with the WhatsApp code)."""
    try:
        from . import whatsapp
    except ModuleNotFoundError as error:
        if error.name != f"{__package__}.whatsapp":
            raise
        return None
    return getattr(whatsapp, "acknowledge", None)


def message_id(external_id: str) -> str | None:
    """The Message-ID to answer, in angle brackets; None for messages stored under a digest (they had none)."""
    value = external_id.strip()
    if "@" not in value or any(char.isspace() for char in value):
        return None
    return value if value.startswith("<") else f"<{value}>"


def acknowledgement_email(draft: Draft) -> EmailMultiAlternatives:
    emails = list(draft.messages.filter(source=Source.EMAIL).order_by("received_at", "pk"))
    theirs = [m for m in emails if m.sender_address == draft.sender_address] or emails
    original = theirs[0] if theirs else None
    thread = [mid for mid in (message_id(m.external_id) for m in emails) if mid]
    headers = {"Auto-Submitted": "auto-replied"}  # RFC 3834: their auto-responder must not answer back
    if original is not None and message_id(original.external_id):
        headers["In-Reply-To"] = message_id(original.external_id)
        headers["References"] = " ".join(thread[-20:])
    campaign = draft.campaign
    context = {
        "draft": draft, "campaign": campaign, "original": original,
        "subject": plain_subject((original.subject if original else "") or draft.subject),
        "turned": campaign.state != "received",
        "url": settings.SITE_URL + reverse("campaigns:detail", args=[campaign.folio]),
    }
    subject = render_to_string("intake/email/acknowledgement_subject.txt", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()), body=render_to_string("intake/email/acknowledgement.txt", context),
        to=[draft.sender_address], headers=headers,
    )
    message.attach_alternative(render_to_string("intake/email/acknowledgement.html", context), "text/html")
    return message
