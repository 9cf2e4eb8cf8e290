"""Telling guests what happened to their answer, as a task so the page (or the webhook) answers at once: an answer
is stored with ``confirm_due`` and wakes the one task that works through them (pregonero.taskqueue.Drain).

A taken answer is confirmed by e-mail when the guest has an address (with the door QR inline when attending)
and by WhatsApp free text while the guest's 24-hour window is open (they wrote or tapped within the last day;
outside it WhatsApp only delivers approved templates). A refused tap gets its reason the same way.
"""

import asyncio
import logging
import smtplib
from datetime import timedelta
from email.message import MIMEPart

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.tasks import task
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from pregonero.campaigns.placeholders import values_for
from pregonero.sending.channels.base import SendError, mask_phone
from pregonero.sending.channels.whatsapp import WhatsAppClient, build_text_payload
from pregonero.sending.models import InboundMessage
from pregonero.sending.services import rsvp_link
from pregonero.taskqueue import Drain

from .models import AnswerRecord, Invitation
from .qr import keep_page_qr, qr_png
from .services import answer_deadline, answer_summary, guest_refusal

log = logging.getLogger(__name__)
WHATSAPP_WINDOW = timedelta(hours=24)
QR_CID = "qr-entrada@pregonero"


def whatsapp_ids(mobile: str) -> list[str]:
    """The ``wa_id`` forms inbound messages from this mobile may carry (Mexican ones often have an extra 1)."""
    digits = mobile.removeprefix("+")
    return [digits, "521" + digits[2:]] if digits.startswith("52") and len(digits) == 12 else [digits]


def whatsapp_window_open(contact) -> bool:
    if not contact.reachable_by_whatsapp:
        return False
    since = timezone.now() - WHATSAPP_WINDOW
    return InboundMessage.objects.filter(wa_id__in=whatsapp_ids(contact.mobile), received_at__gte=since).exists()


def whatsapp_send_text(mobile: str, body: str) -> bool:
    try:
        payload = build_text_payload(to_e164=mobile, body=body)
        client = WhatsAppClient.from_settings()
    except (ValueError, ImproperlyConfigured) as error:
        log.warning("WhatsApp text to %s not sent: %s", mask_phone(mobile), type(error).__name__)
        return False

    async def send():
        try:
            return await client.send(payload)
        finally:
            await client.aclose()

    try:
        asyncio.run(send())
    except SendError as error:  # already logged (masked) by the client
        log.info("WhatsApp text to %s not sent (%s)", mask_phone(mobile), error.kind)
        return False
    return True


def confirmation_context(invitation: Invitation) -> dict:
    campaign, contact = invitation.campaign, invitation.contact
    values = values_for(campaign, contact)
    return {
        "invitation": invitation, "campaign": campaign, "guest": str(contact), "values": values,
        "summary": answer_summary(invitation), "attending": invitation.answer == Invitation.Answer.ATTENDING,
        "deadline": answer_deadline(campaign), "can_change": not guest_refusal(campaign), "link": rsvp_link(invitation),
        "privacy_url": settings.SITE_URL + reverse("rsvp:privacy"), "qr_cid": QR_CID,
    }


def confirmation_whatsapp_text(context: dict) -> str:
    values = context["values"]
    when = _("%(date)s, %(time)s h") % {"date": values["fecha"], "time": values["hora"]} if values["fecha"] else ""
    event = f"«{values['evento']}»" + (f" ({when})" if when else "")
    text = _("%(guest)s: registramos su respuesta para %(event)s. %(summary)s") % {
        "guest": context["guest"], "event": event, "summary": context["summary"]}
    if context["attending"]:
        return text + " " + _("Su invitación y su código de entrada: %(link)s") % {"link": context["link"]}
    if context["can_change"]:
        return text + " " + _("Si cambia de opinión, responda aquí: %(link)s") % {"link": context["link"]}
    return text


def confirmation_email(context: dict) -> EmailMultiAlternatives:
    invitation = context["invitation"]
    subject = _("Su respuesta: «%(title)s»") % {"title": context["campaign"].title}
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()), body=render_to_string("rsvp/answer_email.txt", context),
        to=[invitation.contact.email],
    )
    message.attach_alternative(render_to_string("rsvp/answer_email.html", context), "text/html")
    if context["attending"]:
        qr = MIMEPart()
        qr.set_content(qr_png(invitation), maintype="image", subtype="png", disposition="inline",
                       filename="codigo-de-entrada.png", cid=f"<{QR_CID}>")
        message.attach(qr)
    return message


def email_send(message: EmailMultiAlternatives, invitation_id: int) -> bool:
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as error:
        log.warning("confirmation e-mail for invitation %s not sent: %s", invitation_id, type(error).__name__)
        return False
    return True


# The one task that confirms the answers waiting for it (AnswerRecord.confirm_due), woken after an answer commits.
confirmer = Drain("pregonero.rsvp.confirmations.answers_confirm")


def confirmations_wake(record_id: int) -> None:
    confirmer.wake(record_id)


@task()
def answers_confirm(record_id: int) -> str:
    """Confirms every answer waiting for it, this one among them, oldest first, until none comes for a while."""
    return f"{confirmer.run(due_confirm_next)} confirmed or superseded"


def due_confirm_next() -> int:
    """Takes the oldest answer waiting for its confirmation off the list and confirms it; 0 when none waits.
    Taken in its own short transaction (workers running this at once skip each other's), so a worker killed while
    it sends loses that one confirmation, as a killed task did: never two of it."""
    with transaction.atomic():
        claimed = list(AnswerRecord.objects.filter(confirm_due=True).order_by("pk")
                       .select_for_update(skip_locked=True).values_list("pk", flat=True)[:1])
        AnswerRecord.objects.filter(pk__in=claimed).update(confirm_due=False)
    for record_id in claimed:
        record_confirm(record_id)
    return len(claimed)


@task()
def answer_confirm(record_id: int) -> dict:
    """One answer's confirmation as a task of its own, as answers enqueued it before confirm_due (migration
    rsvp 0005): what such a task still waiting in the queue runs."""
    AnswerRecord.objects.filter(pk=record_id).update(confirm_due=False)
    return record_confirm(record_id)


def record_confirm(record_id: int) -> dict:
    """Confirms one recorded answer to the guest, unless a different answer replaced it before this ran (that one
    has its own confirmation). A newer identical answer confirms nothing itself, as it changed nothing: two taps
    of the same button at once must still get their one confirmation."""
    record = AnswerRecord.objects.filter(pk=record_id).select_related("invitation__campaign",
                                                                      "invitation__contact").first()
    if record is None or record.invitation.answers.filter(pk__gt=record.pk).exclude(
            answer=record.answer, companions=record.companions).exists():
        return {"skipped": "superseded"}
    invitation, contact = record.invitation, record.invitation.contact
    if invitation.answer == Invitation.Answer.ATTENDING:
        keep_page_qr(invitation)  # the picture the page shows from now on
    sent = {}
    with translation.override(settings.LANGUAGE_CODE):
        context = confirmation_context(invitation)
        if contact.reachable_by_email:
            sent["email"] = email_send(confirmation_email(context), invitation.pk)
        if whatsapp_window_open(contact):
            sent["whatsapp"] = whatsapp_send_text(contact.mobile, confirmation_whatsapp_text(context))
    log.info("answer %s confirmed to invitation %s: %s", record_id, invitation.pk, sent)
    return sent


@task()
def guest_whatsapp_reply(invitation_id: int, body: str) -> bool:
    contact = Invitation.objects.select_related("contact").get(pk=invitation_id).contact
    return whatsapp_window_open(contact) and whatsapp_send_text(contact.mobile, body)


def answer_refusal_reply(*, invitation: Invitation, refusal: str) -> None:
    """Tells a guest whose WhatsApp tap was refused why (the tap itself opened the 24-hour window)."""
    transaction.on_commit(lambda: guest_whatsapp_reply.enqueue(invitation.pk, refusal))
