"""Rounds after the first: resend to new guests, to failed messages or to non-responders; and cancelling a send
(its queued invitations are skipped and, if asked, those already invited get a cancellation notice).

A round is numbered for the whole campaign (1 is the start, 2 the first resend…) and written whole in the same
transaction that moves the campaign, under the campaign row's lock: a second click finds the campaign already
moved and writes nothing. Opt-outs are honoured on every round.
"""

from collections import defaultdict

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _, gettext_lazy

from pregonero.accounts.roles import Role
from pregonero.campaigns.models import AuditEntry, Campaign, State
from pregonero.campaigns.placeholders import values_for
from pregonero.campaigns.services import acts_as, campaign_transition
from pregonero.rsvp.models import Invitation

from .channels.whatsapp import build_template_payload
from .models import Message, SendControl, outbox_written
from .services import TEMPLATE_LANGUAGE, SendRefused, approved_proof, messages_for, proof_page_button

WHATSAPP, EMAIL = Message.Channel.WHATSAPP, Message.Channel.EMAIL
TARGETS = {
    "new": gettext_lazy("A los invitados nuevos (agregados después de iniciar el envío)"),
    "failed": gettext_lazy("A los mensajes que fallaron"),
    "pending": gettext_lazy("A quienes no han respondido"),
}
NOTHING_TO_RESEND = {
    "new": gettext_lazy("No hay invitados nuevos sin invitación: Base de Datos debe agregarlos primero."),
    "failed": gettext_lazy("No hay mensajes fallidos que se puedan reenviar (o sus destinatarios ya no están "
                           "disponibles por ese medio)."),
    "pending": gettext_lazy("No hay invitados sin respuesta a quienes se pueda escribir."),
}
CANCELLATION_TEMPLATE = "cancelacion_evento"
# What went out (or was in flight when the campaign was cancelled): those guests hear of the cancellation.
WENT_OUT = (Message.State.SENDING, Message.State.SENT, Message.State.DELIVERED, Message.State.READ)


# --------------------------------------------------------------------------- who each round reaches


def reaches(channel: str, via: str = "contact__") -> Q:
    """The guest's contact (reached through ``via``) can still get this channel: an address and no opt-out."""
    if channel == WHATSAPP:
        return ~Q(**{f"{via}mobile": ""}) & Q(**{f"{via}whatsapp_opt_out": False,
                                                  f"{via}whatsapp_unavailable_at__isnull": True})
    return ~Q(**{f"{via}email": ""}) & Q(**{f"{via}email_opt_out": False})


REACHABLE = reaches(WHATSAPP) | reaches(EMAIL)
NEVER_OPTED_OUT = Q(contact__whatsapp_opt_out=False, contact__email_opt_out=False, contact__opted_out_at__isnull=True)


def new_invitations(campaign) -> QuerySet:
    """Guests added after the list froze: no message of any kind yet, and some channel reaches them. Walk-ins
    (added at the door) are no invitees to write to."""
    messaged = Exists(Message.objects.filter(invitation=OuterRef("pk")))
    return Invitation.objects.filter(REACHABLE, campaign=campaign, walk_in=False).exclude(messaged)


def pending_invitations(campaign) -> QuerySet:
    """Guests who were invited, have not answered and never opted out of anything."""
    invited = Exists(Message.objects.filter(invitation=OuterRef("pk"), kind=Message.Kind.INVITATION))
    return Invitation.objects.filter(invited, REACHABLE, NEVER_OPTED_OUT, campaign=campaign,
                                     answer=Invitation.Answer.PENDING)


def failed_messages(campaign) -> QuerySet:
    """Each guest's latest invitation on a channel, when it failed and that channel still reaches the guest."""
    later = Message.objects.filter(invitation=OuterRef("invitation"), channel=OuterRef("channel"),
                                   kind=Message.Kind.INVITATION, round__gt=OuterRef("round"))
    still_reached = (Q(channel=WHATSAPP) & reaches(WHATSAPP, "invitation__contact__")) | (
        Q(channel=EMAIL) & reaches(EMAIL, "invitation__contact__"))
    return (Message.objects.filter(still_reached, campaign=campaign, kind=Message.Kind.INVITATION,
                                   state=Message.State.FAILED).exclude(Exists(later)))


def messages_reaching(invitations: QuerySet) -> int:
    """How many messages a full round to these invitations writes: one per channel that reaches each guest."""
    counts = invitations.aggregate(whatsapp=Count("pk", filter=reaches(WHATSAPP)), email=Count("pk", filter=reaches(EMAIL)))
    return counts["whatsapp"] + counts["email"]


def resend_counts(campaign) -> dict[str, int]:
    """How many messages each resend would write (three COUNT queries)."""
    return {
        "new": messages_reaching(new_invitations(campaign)),
        "failed": failed_messages(campaign).count(),
        "pending": messages_reaching(pending_invitations(campaign)),
    }


def next_round(campaign) -> int:
    return (Message.objects.filter(campaign=campaign).aggregate(last=Max("round"))["last"] or 0) + 1


def resend_rows(*, campaign, proof, target: str, number: int) -> list[Message]:
    if target == "failed":
        invitations, channels = {}, defaultdict(list)
        for message in failed_messages(campaign).select_related("invitation__contact").order_by("pk"):
            invitations[message.invitation_id] = message.invitation
            channels[message.invitation_id].append(message.channel)
        pairs = [(invitation, channels[pk]) for pk, invitation in invitations.items()]
    else:
        chosen = new_invitations(campaign) if target == "new" else pending_invitations(campaign)
        pairs = [(invitation, Message.Channel.values) for invitation in chosen.select_related("contact").order_by("pk")]
    page_button = proof_page_button(proof)
    return [message for invitation, wanted in pairs
            for message in messages_for(campaign=campaign, proof=proof, invitation=invitation, round=number,
                                        channels=wanted, page_button=page_button)]


# --------------------------------------------------------------------------- resend


def resend(*, campaign: Campaign, actor, target: str) -> int:
    """Writes a new round for ``target`` ("new", "failed" or "pending") and moves the sent campaign back to
    sending, in one transaction. Returns how many messages it wrote; raises SendRefused when nothing matches."""
    if target not in TARGETS:
        raise SendRefused(_("Elija a quién reenviar: a los invitados nuevos, a los mensajes que fallaron o a quienes "
                            "no han respondido."))
    if not acts_as(actor, Role.SOCIAL_MEDIA, campaign):
        raise PermissionDenied(_("Solo Redes Sociales y Difusión reenvía invitaciones."))
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        if locked.state != State.SENT:
            raise SendRefused(_("La solicitud %(folio)s está «%(state)s»: solo se reenvía cuando el envío terminó.")
                              % {"folio": locked.folio, "state": locked.get_state_display()})
        proof = approved_proof(locked)
        if proof is None:
            raise SendRefused(_("La solicitud %(folio)s no tiene una prueba con visto bueno.") % {"folio": locked.folio})
        number = next_round(locked)
        rows = resend_rows(campaign=locked, proof=proof, target=target, number=number)
        if not rows:
            raise SendRefused(str(NOTHING_TO_RESEND[target]))
        Message.objects.bulk_create(rows, batch_size=1000)
        outbox_written(len(rows))
        comment = _("Ronda %(round)d, %(target)s: %(n)d mensajes.") % {
            "round": number, "target": str(TARGETS[target]).lower(), "n": len(rows)}
        campaign_transition(campaign=campaign, actor=actor, name="resend", expected_state=State.SENT, comment=comment,
                            data={"target": target, "round": number, "messages": len(rows)})
    return len(rows)


def resend_targets_by_round(campaign) -> dict[int, str]:
    """Which resend each round was, from the campaign's audit trail."""
    entries = AuditEntry.objects.filter(campaign=campaign, action="campaign.resend").values_list("data", flat=True)
    return {data["round"]: data["target"] for data in entries if "round" in data}


# --------------------------------------------------------------------------- cancel


def cancellation_payload(notice: Message, contact, values: dict) -> dict:
    """WhatsApp: the approved template, {{1}} greeting, {{2}} event, {{3}} date; e-mail: the same in plain text."""
    date = values["fecha"] or _("la fecha anunciada")
    if notice.channel == WHATSAPP:
        return build_template_payload(
            to_e164=contact.mobile, template_name=CANCELLATION_TEMPLATE, language=TEMPLATE_LANGUAGE,
            callback_data=str(notice.public_id), body_params=[str(contact), values["evento"], date])
    text = _("%(greeting)s:\n\nLamentamos informarle que %(event)s, previsto para el %(date)s, ha sido cancelado. "
             "Le ofrecemos una disculpa.\n\nDirección de Relaciones Públicas\n") % {
        "greeting": contact, "event": values["evento"], "date": date}
    return {"to": contact.email, "subject": _("Cancelado: %(event)s") % {"event": values["evento"]}, "text": text}


def cancellation_rows(campaign) -> list[Message]:
    """One notice per guest and channel the invitation went out on (or was in flight on), if still reachable."""
    went_out = (Message.objects.filter(campaign=campaign, kind=Message.Kind.INVITATION, state__in=WENT_OUT)
                .filter((Q(channel=WHATSAPP) & reaches(WHATSAPP, "invitation__contact__"))
                        | (Q(channel=EMAIL) & reaches(EMAIL, "invitation__contact__")))
                .select_related("invitation__contact").order_by("invitation_id", "channel"))
    number, rows, seen = next_round(campaign), [], set()
    with translation.override(settings.LANGUAGE_CODE):  # guests hear from the office in Spanish
        for sent in went_out:
            if (sent.invitation_id, sent.channel) in seen:
                continue  # invited on this channel in more than one round: one notice is enough
            seen.add((sent.invitation_id, sent.channel))
            contact = sent.invitation.contact
            notice = Message(campaign=campaign, invitation=sent.invitation, channel=sent.channel, round=number,
                             kind=Message.Kind.CANCELLATION,
                             address=contact.mobile if sent.channel == WHATSAPP else contact.email)
            notice.payload = cancellation_payload(notice, contact, values_for(campaign, contact))
            rows.append(notice)
    return rows


def outbox_stop(*, campaign, notify_guests: bool) -> dict:
    """The send stops: queued messages are skipped ("Solicitud cancelada"); with ``notify_guests`` a round of
    cancellation notices is written and a pause is lifted so the notices can go. Returns the counts."""
    now = timezone.now()
    skipped = Message.objects.filter(campaign=campaign, state=Message.State.QUEUED).update(
        state=Message.State.SKIPPED, error_reason=_("Solicitud cancelada"), updated_at=now)
    notices = cancellation_rows(campaign) if notify_guests else []
    if notices:
        Message.objects.bulk_create(notices, batch_size=1000)
        SendControl.objects.filter(campaign=campaign).update(paused_at=None, reason="")
    return {"skipped": skipped, "notices": len(notices)}


def campaign_cancel(*, campaign: Campaign, actor, comment: str, expected_state: str | None = None,
                    notify_guests: bool = False) -> AuditEntry:
    """Cancels a request (the generic "Cancelar solicitud"), stopping its send in the same transaction. The
    transition checks the role, the state and the comment; when it refuses, nothing of the outbox changed."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        counts = outbox_stop(campaign=locked, notify_guests=notify_guests)
        return campaign_transition(campaign=campaign, actor=actor, name="cancel", comment=comment,
                                   expected_state=expected_state, data={"notify_guests": notify_guests, **counts})


def cancellation_notice_possible(campaign) -> bool:
    """Whether the cancel form offers to warn guests: some invitation of this campaign went out."""
    return campaign.state in (State.SENDING, State.SENT) and Message.objects.filter(
        campaign=campaign, kind=Message.Kind.INVITATION, state__in=WENT_OUT).exists()
