"""Telling the requester, by the channel they wrote from, that their request was registered and its folio.

`acknowledge_registration` runs after the registration commits, so a slow SMTP server or WhatsApp API never holds
the assistant's page. It queues one acknowledgement per sender: the draft's, and those of the drafts the assistant
merged into it when they wrote from elsewhere (an oficio by e-mail, the invitation by WhatsApp), each by its own
channel. Each one is a task that claims `Draft.acknowledged_at` before sending (so it goes once), gives the claim
back when the send fails, and tries again later while the failure may pass: `email_acknowledge` here,
`whatsapp_acknowledge` in whatsapp_tasks.py.

The e-mail answers in the sender's thread (In-Reply-To / References of their message) with the office's mailbox
(INTAKE_ADDRESS) as Reply-To, so the department's answer lands where it is read and joins the request.
"""

import logging
import smtplib
from datetime import timedelta
from email.headerregistry import Address
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.tasks import task
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from pregonero.campaigns.models import Campaign
from pregonero.taskqueue import enqueue_with

from .models import AckFailure, Draft, IncomingMessage, Source, plain_subject
from .services import acknowledgement_gave_up, registered_campaign
from .whatsapp_tasks import whatsapp_acknowledge

log = logging.getLogger(__name__)

EMAIL_ATTEMPTS = 5  # 1, 4, 16 and 64 minutes after the first


def acknowledgement_retry_enqueue(draft: Draft, folio: str) -> None:
    """"Enviar el acuse de nuevo": the same retrying task as the first time, for this draft's sender only."""
    if draft.source == Source.WHATSAPP:
        enqueue_with(whatsapp_acknowledge, draft.pk, folio)
    else:
        enqueue_with(email_acknowledge, draft.pk)


def acknowledgement_enqueue(draft_id: int) -> None:
    """Called inside the registration's transaction: the task commits with the registration, so no request is
    ever registered with its acknowledgement forgotten (``pregonero.taskqueue.enqueue_with``)."""
    enqueue_with(acknowledge_registration, draft_id)


@task()
def acknowledge_registration(draft_id: int) -> list[int]:
    """Queues the acknowledgement of each sender of a registered draft; returns the drafts whose sender is told."""
    draft = Draft.objects.select_related("campaign").get(pk=draft_id)
    if draft.campaign is None:
        return []
    told = []
    for recipient in recipients(draft):
        if recipient.source == Source.WHATSAPP:
            whatsapp_acknowledge.enqueue(recipient.pk, draft.campaign.folio)
        else:
            email_acknowledge.enqueue(recipient.pk)
        told.append(recipient.pk)
    return told


def recipients(draft: Draft) -> list[Draft]:
    """The draft and the drafts merged into it, one per sender (channel and address) not told yet. A merged
    draft that was set aside (an auto-reply, a newsletter) is not answered."""
    merged = draft.merged_drafts.filter(aside_reason="").exclude(sender_address="").order_by("received_at", "pk")
    chosen, senders = [], set()
    for candidate in (draft, *merged):
        sender = (candidate.source, candidate.sender_address)
        if sender in senders or not candidate.sender_address:
            continue
        senders.add(sender)
        if candidate.acknowledged_at is None:
            chosen.append(candidate)
    return chosen


@task()
def email_acknowledge(draft_id: int, attempt: int = 0) -> str:
    return email_acknowledgement_send(draft_id, attempt)


def email_acknowledgement_send(draft_id: int, attempt: int = 0) -> str:
    """Sends the e-mail acknowledgement once; returns what happened (the task's result)."""
    draft = Draft.objects.select_related("merged_into__campaign", "campaign").filter(pk=draft_id).first()
    campaign = registered_campaign(draft) if draft is not None else None
    if campaign is None:
        return "skipped"
    if "@" not in draft.sender_address:
        log.warning("draft %s: no e-mail address to acknowledge to", draft.pk)
        acknowledgement_gave_up(draft.pk, AckFailure.NO_ADDRESS)
        return "no address"
    now = timezone.now()
    claimed = Draft.objects.filter(pk=draft.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledgement_failed_at=None, acknowledgement_failure="")
    if not claimed:
        return "skipped"  # told already
    try:
        with translation.override(settings.LANGUAGE_CODE):
            acknowledgement_email(draft, campaign).send()
    except (smtplib.SMTPException, OSError) as error:
        Draft.objects.filter(pk=draft.pk, acknowledged_at=now).update(acknowledged_at=None)
        again = (not smtp_permanent(error) and attempt + 1 < EMAIL_ATTEMPTS
                 and email_acknowledge.get_backend().supports_defer)
        log.warning("e-mail acknowledgement of draft %s not sent (attempt %s, %s)%s", draft.pk, attempt + 1,
                    type(error).__name__, "; will retry" if again else "")
        if not again:
            acknowledgement_gave_up(draft.pk, AckFailure.REFUSED if smtp_permanent(error) else AckFailure.UNREACHABLE)
            return "failed"
        email_acknowledge.using(run_after=now + timedelta(seconds=60 * 4**attempt)).enqueue(draft.pk, attempt + 1)
        return "retrying"
    log.info("draft %s: requester told of folio %s by e-mail", draft.pk, campaign.folio)
    return "sent"


def smtp_permanent(error: Exception) -> bool:
    """A 5xx answer (the address does not exist, the message is refused) will not change by waiting."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _message in error.recipients.values())
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code >= 500


def message_id(external_id: str) -> str | None:
    """The Message-ID to answer, in angle brackets; None for messages stored under a digest (they had none)."""
    value = external_id.strip()
    if "@" not in value or any(char.isspace() for char in value):
        return None
    return value if value.startswith("<") else f"<{value}>"


def office_reply_to() -> list[str]:
    """The office's mailbox under the name mail goes out with ("Relaciones Públicas <difusion@…>")."""
    if not settings.INTAKE_ADDRESS:
        return []
    name, _address = parseaddr(settings.DEFAULT_FROM_EMAIL)
    return [str(Address(display_name=name, addr_spec=settings.INTAKE_ADDRESS))]


def acknowledgement_email(draft: Draft, campaign: Campaign) -> EmailMultiAlternatives:
    """The acknowledgement for the draft's sender; a merged draft's messages are on the draft it was merged into."""
    holder = draft.merged_into_id or draft.pk
    emails = list(IncomingMessage.objects.filter(draft_id=holder, source=Source.EMAIL).order_by("received_at", "pk"))
    theirs = [m for m in emails if m.sender_address == draft.sender_address] or emails
    original = theirs[0] if theirs else None
    thread = [mid for mid in (message_id(m.external_id) for m in theirs) if mid]
    headers = {"Auto-Submitted": "auto-replied"}  # RFC 3834: their auto-responder must not answer back
    if original is not None and message_id(original.external_id):
        headers["In-Reply-To"] = message_id(original.external_id)
        headers["References"] = " ".join(thread[-20:])
    context = {
        "draft": draft, "campaign": campaign, "original": original,
        "subject": plain_subject((original.subject if original else "") or draft.subject),
        "turned": campaign.state != "received",
        "url": settings.SITE_URL + reverse("campaigns:detail", args=[campaign.folio]),
    }
    subject = render_to_string("intake/email/acknowledgement_subject.txt", context)
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()), body=render_to_string("intake/email/acknowledgement.txt", context),
        to=[draft.sender_address], reply_to=office_reply_to(), headers=headers,
    )
    message.attach_alternative(render_to_string("intake/email/acknowledgement.html", context), "text/html")
    return message
