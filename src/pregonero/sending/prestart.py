"""Before the real send: a test send to oneself, a start scheduled for later, and the daily WhatsApp tier check.

The test send builds the very payloads of the mass send for an unsaved invitation whose token starts with
``prueba-``: no Message row is written (it is not part of the outbox) and a tap on its buttons finds no
invitation, so it records nothing.
"""

import asyncio
import secrets
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, PermissionDenied
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from pregonero.accounts.roles import Role
from pregonero.campaigns.models import Campaign, State
from pregonero.campaigns.notifications import notify
from pregonero.campaigns.services import TransitionConflict, acts_as, audit_log
from pregonero.directory.guestlists import WHATSAPP_OK, GuestListError, guest_queryset
from pregonero.directory.models import Contact, GuestList
from pregonero.directory.normalize import normalize_phone
from pregonero.rsvp.models import Invitation

from .channels.base import Channel, SendError, mask_phone
from .channels.email import EmailChannel
from .channels.whatsapp import WhatsAppClient
from .models import Message, SendControl
from .services import (
    SendRefused, approved_proof, check_startable, email_payload, proof_page_button, send_start, whatsapp_payload,
)

TEST_TOKEN_PREFIX = "prueba-"
SCHEDULE_MAX_AHEAD = timedelta(days=90)
TIER_WINDOW = timedelta(hours=24)
TEST_PHONE_SESSION_KEY = "sending_test_phone"  # the number last used, offered again in the form


def social_media_only(actor, campaign, what) -> None:
    if not acts_as(actor, Role.SOCIAL_MEDIA, campaign):
        raise PermissionDenied(_("Solo Redes Sociales y Difusión %(what)s.") % {"what": what})


def local(moment: datetime) -> str:
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


# --------------------------------------------------------------------------- test send to oneself


def self_invitation(*, campaign: Campaign, actor, mobile: str, email: str) -> Invitation:
    """An invitation for the person testing, never saved: its token is shorter than a real one and says so."""
    contact = Contact(name=actor.get_full_name() or actor.username, mobile=mobile, email=email)
    return Invitation(campaign=campaign, contact=contact, token=TEST_TOKEN_PREFIX + secrets.token_urlsafe(9))


def deliver(channel: Channel, payload: dict) -> str:
    """Sends one payload now; returns "" when the provider accepted it, otherwise the reason in Spanish."""

    async def send():
        async with channel:
            await channel.send(payload)

    try:
        asyncio.run(send())
    except SendError as error:
        return error.reason
    return ""


def whatsapp_to_self(*, campaign, proof, invitation) -> str:
    try:
        channel = WhatsAppClient.from_settings()
    except ImproperlyConfigured:
        return _("WhatsApp no está configurado en el servidor.")
    try:
        payload = whatsapp_payload(campaign=campaign, proof=proof, invitation=invitation, public_id=uuid.uuid4(),
                                   page_button=proof_page_button(proof))
    except ValueError:  # an empty template parameter (a missing event date or venue): the real send would fail too
        return _("Faltan datos del evento (fecha, hora o lugar) para llenar la plantilla de WhatsApp.")
    return deliver(channel, payload)


def email_to_self(*, campaign, proof, invitation) -> str:
    payload = {**email_payload(campaign=campaign, proof=proof, invitation=invitation), "public_id": str(uuid.uuid4())}
    return deliver(EmailChannel(), payload)


def send_to_self(*, campaign: Campaign, actor, phone: str = "", to_email: bool = False) -> dict[str, str]:
    """Sends the real invitation to the actor's own phone and/or e-mail, now. Returns {channel: "" or reason}.

    Raises SendRefused (in Spanish) for a bad number, no channel chosen or a campaign not ready.
    """
    social_media_only(actor, campaign, _("envía pruebas de la invitación"))
    proof = approved_proof(campaign)
    if campaign.state != State.READY or proof is None:
        raise SendRefused(_("La prueba se envía cuando la solicitud está lista para envío, con la prueba aprobada."))
    mobile = ""
    if phone.strip():
        number = normalize_phone(phone)
        if not number.e164 or number.problem or number.is_office_line:
            raise SendRefused(_("«%(phone)s» no es un número de celular válido; escriba los 10 dígitos, p. ej. "
                                "998 123 4567.") % {"phone": phone.strip()})
        mobile = number.e164
    if to_email and not actor.email:
        raise SendRefused(_("Su usuario no tiene correo registrado; pida a Sistemas que lo agregue."))
    if not mobile and not to_email:
        raise SendRefused(_("Escriba su celular o marque su correo para recibir la prueba."))
    invitation = self_invitation(campaign=campaign, actor=actor, mobile=mobile, email=actor.email if to_email else "")
    outcomes, about = {}, {"campaign": campaign, "proof": proof, "invitation": invitation}
    if mobile:
        outcomes[Message.Channel.WHATSAPP.value] = whatsapp_to_self(**about)
    if to_email:
        outcomes[Message.Channel.EMAIL.value] = email_to_self(**about)
    summary = "; ".join(f"{Message.Channel(channel).label}: {reason or _('aceptada')}"
                        for channel, reason in outcomes.items())
    comment = _("Prueba de la invitación v%(v)d a su propio celular o correo — %(summary)s.") % {
        "v": proof.version, "summary": summary}
    audit_log(campaign=campaign, actor=actor, action="sending.test_send", comment=comment,
              data={"proof": proof.version, "whatsapp_to": mask_phone(mobile) if mobile else "",
                    "outcomes": outcomes})
    return outcomes


# --------------------------------------------------------------------------- scheduled start


def send_schedule(*, campaign: Campaign, actor, when: datetime, ignore_quiet_hours: bool = False) -> datetime:
    """Schedules the start for ``when`` (to the minute) and enqueues the task that does it. One schedule at a
    time: a second one (a double submit) is refused until the first is called off."""
    from .tasks import scheduled_send_start

    social_media_only(actor, campaign, _("programa el envío"))
    when = when.replace(second=0, microsecond=0)
    now = timezone.now()
    if when <= now:
        raise SendRefused(_("La hora elegida (%(when)s) ya pasó; elija una hora futura.") % {"when": local(when)})
    if when > now + SCHEDULE_MAX_AHEAD:
        raise SendRefused(_("Solo se puede programar hasta %(days)d días adelante.")
                          % {"days": SCHEDULE_MAX_AHEAD.days})
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        check_startable(campaign)
        control, _created = SendControl.objects.select_for_update().get_or_create(campaign=campaign)
        if control.scheduled_for is not None:
            raise SendRefused(_("El envío ya está programado para %(when)s; cancele esa programación para elegir "
                                "otra hora.") % {"when": local(control.scheduled_for)})
        control.scheduled_for, control.scheduled_by = when, actor
        control.save(update_fields=["scheduled_for", "scheduled_by", "updated_at"])
        audit_log(campaign=campaign, actor=actor, action="sending.scheduled",
                  comment=_("Envío programado para %(when)s.") % {"when": local(when)},
                  data={"scheduled_for": when.isoformat(), "ignore_quiet_hours": ignore_quiet_hours})
        # The task queue is this database: enqueued in the same transaction, the task exists exactly when the
        # schedule does.
        scheduled_send_start.using(run_after=when).enqueue(campaign.pk, when.isoformat(), ignore_quiet_hours)
    return when


def send_schedule_cancel(*, campaign: Campaign, actor) -> bool:
    """Calls the scheduled start off; its task finds the schedule gone and does nothing. False if none."""
    social_media_only(actor, campaign, _("cancela la programación del envío"))
    with transaction.atomic():
        control = SendControl.objects.select_for_update().filter(campaign=campaign, scheduled_for__isnull=False).first()
        if control is None:
            return False
        when, control.scheduled_for, control.scheduled_by = control.scheduled_for, None, None
        control.save(update_fields=["scheduled_for", "scheduled_by", "updated_at"])
        audit_log(campaign=campaign, actor=actor, action="sending.schedule_cancelled",
                  comment=_("Se canceló el envío programado para %(when)s.") % {"when": local(when)})
    return True


def scheduled_start_run(*, campaign_id: int, scheduled_for: datetime, ignore_quiet_hours: bool) -> str:
    """What the scheduled task does at its time: start the send, only if this very schedule still stands and the
    campaign is still ready. A refusal (the guest list was reopened, the scheduler lost the role) is logged and
    told to Redes Sociales, since nobody is watching the screen."""
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
        control = SendControl.objects.select_for_update().filter(campaign_id=campaign_id).first()
        if campaign is None or control is None or control.scheduled_for != scheduled_for:
            return "called off"
        actor, control.scheduled_for, control.scheduled_by = control.scheduled_by, None, None
        control.save(update_fields=["scheduled_for", "scheduled_by", "updated_at"])
        if campaign.state != State.READY:
            return "not ready"
        try:
            if actor is None:
                raise SendRefused(_("la persona que lo programó ya no tiene usuario."))
            with transaction.atomic():
                created = send_start(campaign=campaign, actor=actor, ignore_quiet_hours=ignore_quiet_hours)
        except (SendRefused, TransitionConflict, PermissionDenied, GuestListError) as refusal:
            entry = audit_log(campaign=campaign, actor=None, action="sending.schedule_failed",
                              comment=_("El envío programado para %(when)s no pudo iniciar: %(why)s")
                              % {"when": local(scheduled_for), "why": refusal})
            notify(entry=entry, roles={Role.SOCIAL_MEDIA})
            return "refused"
    return f"started: {created} messages"


# --------------------------------------------------------------------------- daily tier


def whatsapp_tier_check(campaign: Campaign) -> dict | None:
    """The distinct WhatsApp numbers this send reaches together with those written to in the last 24 h, against
    the account's daily tier; None when the tier is unlimited."""
    tier = settings.WHATSAPP_DAILY_TIER
    if tier is None:
        return None
    recent = (Message.objects.filter(channel=Message.Channel.WHATSAPP, sent_at__gte=timezone.now() - TIER_WINDOW)
              .exclude(address="").values("address").distinct())
    guest_list = GuestList.objects.filter(campaign=campaign).first()
    numbers = (guest_queryset(guest_list).filter(WHATSAPP_OK).values("mobile").distinct() if guest_list
               else Contact.objects.none().values("mobile"))
    this_send, already = numbers.count(), recent.count()
    total = already + numbers.exclude(mobile__in=recent).count()
    return {"tier": tier, "this_send": this_send, "recent": already, "total": total, "over": total > tier}


def tier_warning(check: dict | None) -> str:
    if not check or not check["over"]:
        return ""
    figures = {**check, "excess": check["total"] - check["tier"]}
    n = {key: formats.number_format(figures[key], force_grouping=True)
         for key in ("tier", "this_send", "recent", "total", "excess")}
    if check["recent"]:
        reach = _("Sumaría %(total)s (números de este envío: %(this_send)s; ya contactados en las últimas 24 horas: "
                  "%(recent)s)") % n
    else:
        reach = _("Este envío llega a %(total)s números") % n
    return _("Este envío rebasa el límite diario de WhatsApp de la cuenta: %(tier)s personas distintas en 24 horas. "
             "%(reach)s, así que unos %(excess)s mensajes de WhatsApp fallarán y el envío se pausará al llegar al "
             "límite; podrá reanudarse cuando pasen las 24 horas. El límite sube conforme la cuenta envía con buena "
             "calidad (pocos bloqueos y reportes).") % {**n, "reach": reach}


def start_panel_context(request, campaign: Campaign) -> dict:
    """What the start part of the send panel shows: the schedule, the tier warning, the test send's defaults."""
    control = SendControl.objects.filter(campaign=campaign, scheduled_for__isnull=False).select_related(
        "scheduled_by").first()
    now = timezone.localtime()
    return {
        "send_schedule": control,
        "tier_warning": tier_warning(whatsapp_tier_check(campaign)),
        "schedule_min": now.strftime("%Y-%m-%dT%H:%M"),
        "schedule_max": (now + SCHEDULE_MAX_AHEAD).strftime("%Y-%m-%dT%H:%M"),
        "test_phone": request.session.get(TEST_PHONE_SESSION_KEY, ""),
    }

