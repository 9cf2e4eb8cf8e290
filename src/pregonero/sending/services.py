"""Starting a send: freeze the guest list and write the outbox, one Message row per invitation and channel.

Everything is written in one transaction before anything leaves: the dispatcher only ever sends rows that
exist, so a crash, a restart or a second click cannot invite anybody twice.
"""

import uuid

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils.translation import gettext as _

from pregonero.accounts.roles import Role
from pregonero.campaigns.models import Campaign, Proof, State
from pregonero.campaigns.placeholders import fill, values_for
from pregonero.campaigns.services import acts_as, audit_log, campaign_transition
from pregonero.directory.guestlists import guest_list_freeze, guest_list_ready
from pregonero.rsvp.models import Invitation

from .channels.whatsapp import build_template_payload, rsvp_quick_reply_payload
from .media import header_image_url
from .models import Message, SendControl, outbox_written
from .templates_sync import page_button_index

TEMPLATE_LANGUAGE = "es_MX"
FIRST_ROUND = 1


class SendRefused(Exception):
    """Sending cannot start; the message says why, in the office's words."""


def rsvp_link(invitation: Invitation) -> str:
    return f"{settings.SITE_URL}/i/{invitation.token}"


def approved_proof(campaign: Campaign) -> Proof | None:
    return campaign.proofs.filter(status=Proof.Status.APPROVED).order_by("-version").first()


def whatsapp_payload(*, campaign, proof, invitation, public_id, page_button: int | None) -> dict:
    """The invitation template for one guest; ``page_button`` is the index of its "Ver invitación" button
    (``page_button_index``), which gets the guest's token, or None when the template has none."""
    values = values_for(campaign, invitation.contact)
    greeting = " ".join(part for part in (values["tratamiento"], values["nombre"]) if part)
    return build_template_payload(
        to_e164=invitation.contact.mobile,
        template_name=proof.whatsapp_template,
        language=TEMPLATE_LANGUAGE,
        callback_data=str(public_id),
        body_params=[greeting, values["evento"], values["fecha"], values["hora"], values["lugar"]],
        header_image_link=header_image_url(campaign),
        quick_reply_payloads=[rsvp_quick_reply_payload(invitation.token, answer) for answer in ("yes", "no")],
        url_suffix=None if page_button is None else (page_button, invitation.token),
    )


def email_payload(*, campaign, proof, invitation) -> dict:
    values = values_for(campaign, invitation.contact)
    link = rsvp_link(invitation)
    text = fill(proof.email_body, values).rstrip()
    text += "\n\n" + _("Confirme su asistencia aquí: %(link)s") % {"link": link}
    return {
        "to": invitation.contact.email,
        "subject": " ".join(fill(proof.email_subject, values).split()),
        "text": text + "\n",
        "rsvp_url": link,
    }


def skip_reason(contact) -> str:
    if contact.whatsapp_opt_out or contact.email_opt_out or contact.opted_out_at:
        return _("Se dio de baja")
    return _("Sin celular ni correo válidos")


def messages_for(*, campaign, proof, invitation, page_button: int | None, round: int = FIRST_ROUND,
                 channels=None) -> list[Message]:
    """One invitation's messages of a round: one per channel that reaches the guest (of ``channels``, when
    given), or, in a full round, one skipped row that says why nobody could be reached."""
    contact = invitation.contact
    common = {"campaign": campaign, "invitation": invitation, "round": round}
    wanted = set(channels or Message.Channel.values)
    messages = []
    if contact.reachable_by_whatsapp and Message.Channel.WHATSAPP in wanted:
        public_id = uuid.uuid4()
        payload = whatsapp_payload(campaign=campaign, proof=proof, invitation=invitation, public_id=public_id,
                                   page_button=page_button)
        messages.append(Message(public_id=public_id, channel=Message.Channel.WHATSAPP, address=contact.mobile,
                                payload=payload, **common))
    if contact.reachable_by_email and Message.Channel.EMAIL in wanted:
        payload = email_payload(campaign=campaign, proof=proof, invitation=invitation)
        messages.append(Message(channel=Message.Channel.EMAIL, address=contact.email, payload=payload, **common))
    if not messages and channels is None:
        messages.append(Message(channel=Message.Channel.WHATSAPP, address="", state=Message.State.SKIPPED,
                                error_reason=skip_reason(contact), **common))
    return messages


def proof_page_button(proof) -> int | None:
    return page_button_index(proof.whatsapp_template, TEMPLATE_LANGUAGE)


def outbox_write(*, campaign, proof) -> int:
    """Writes the missing round-one messages of every invitation; returns how many. A second call writes none."""
    existing = set(Message.objects.filter(campaign=campaign, round=FIRST_ROUND).values_list("invitation_id", "channel"))
    invitations = Invitation.objects.filter(campaign=campaign).select_related("contact").order_by("pk")
    rows, page_button = [], proof_page_button(proof)
    for invitation in invitations.iterator(chunk_size=2000):
        for message in messages_for(campaign=campaign, proof=proof, invitation=invitation, page_button=page_button):
            if (invitation.pk, message.channel) not in existing:
                rows.append(message)
    created = Message.objects.bulk_create(rows, batch_size=1000, ignore_conflicts=True)
    outbox_written(len(created))
    return len(created)


def check_startable(campaign: Campaign) -> Proof:
    if campaign.state != State.READY:
        raise SendRefused(_("La solicitud %(folio)s está «%(state)s»: solo se envía una solicitud lista para envío.")
                          % {"folio": campaign.folio, "state": campaign.get_state_display()})
    if not guest_list_ready(campaign):
        raise SendRefused(_("La lista de invitados de %(folio)s no está confirmada por Base de Datos.")
                          % {"folio": campaign.folio})
    proof = approved_proof(campaign)
    if proof is None:
        raise SendRefused(_("La solicitud %(folio)s no tiene una prueba con visto bueno.") % {"folio": campaign.folio})
    return proof


def send_start(*, campaign: Campaign, actor, ignore_quiet_hours: bool = False) -> int:
    """Starts the mass send: freezes the list, writes the outbox and moves the campaign to "sending", all at once.

    Returns how many messages it wrote (skipped ones included). Raises SendRefused when sending may not start.
    """
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        proof = check_startable(campaign)
        guest_list_freeze(campaign=campaign, actor=actor)
        created = outbox_write(campaign=campaign, proof=proof)
        SendControl.objects.update_or_create(campaign=campaign, defaults={"ignore_quiet_hours": ignore_quiet_hours})
        campaign_transition(campaign=campaign, actor=actor, name="start_send", expected_state=State.READY,
                            data={"messages": created, "ignore_quiet_hours": ignore_quiet_hours})
    return created


def sending_resume(*, campaign: Campaign, actor) -> bool:
    """Resumes a paused send once a person fixed the cause (token renewed, limit lifted). Only Redes Sociales."""
    if not acts_as(actor, Role.SOCIAL_MEDIA, campaign):
        raise PermissionDenied(_("Solo Redes Sociales y Difusión reanuda un envío."))
    with transaction.atomic():
        control = SendControl.objects.select_for_update().filter(campaign=campaign, paused_at__isnull=False).first()
        if control is None:
            return False
        reason, control.paused_at, control.reason = control.reason, None, ""
        control.save(update_fields=["paused_at", "reason", "updated_at"])
        audit_log(campaign=campaign, actor=actor, action="sending.resumed",
                  comment=_("Envío reanudado (estaba pausado: %(reason)s).") % {"reason": reason})
    return True
