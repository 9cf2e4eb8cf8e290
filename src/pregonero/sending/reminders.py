"""Reminders to the guests who have not answered: planned for a number of days before the RSVP deadline or the
event (a django.tasks task writes them at their time), or sent right away.

Each reminder is a round of the outbox (``kind=reminder``), written whole under the campaign row's lock, like a
resend (see rounds.py): the sent campaign goes back to sending so the dispatcher sends it. A reminder due while
the invitations are still going out waits for that send to end: the dispatcher marks a campaign sent when it sees
nothing open without locking the campaign row, so a round added to a campaign still "sending" could be left queued
in a campaign marked sent. Who gets it is decided when it is written: guests still without an answer whose
invitation went out, never one who answered, opted out of anything or came in at the door, and only on a channel
that still reaches them.
"""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.tasks import task
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _, ngettext

from pregonero.accounts.roles import Role
from pregonero.campaigns.models import Campaign, State
from pregonero.campaigns.notifications import notify
from pregonero.campaigns.placeholders import values_for
from pregonero.campaigns.services import TransitionConflict, acts_as, audit_log, campaign_transition
from pregonero.rsvp.models import Invitation

from .channels.whatsapp import build_template_payload, rsvp_quick_reply_payload
from .models import Message, Reminder, WhatsAppTemplate, outbox_written
from .prestart import local, social_media_only
from .rounds import EMAIL, NEVER_OPTED_OUT, REACHABLE, WENT_OUT, WHATSAPP, next_round
from .services import TEMPLATE_LANGUAGE, SendRefused, rsvp_link
from .templates_sync import page_button_index

REMINDER_TEMPLATE = "recordatorio_evento"
SEND_AT = time(10, 0)  # a planned reminder leaves at 10:00 (local time) of its day, never in the middle of the night
DAYS_MIN, DAYS_MAX = 1, 30
OPEN_SEND = (State.SENDING, State.SENT)
SEND_WAIT = timedelta(minutes=5)  # a reminder due while the invitations still go out looks again this much later
NOW_REPEAT_GUARD = timedelta(hours=1)  # "send now" to the same guests again within this time is a double click
CHECKLIST_MAX = 2000  # pending guests offered one by one on the panel


# --------------------------------------------------------------------------- who a reminder reaches


def reminder_targets(campaign, chosen=()) -> QuerySet:
    """Guests whose invitation went out and who still have not answered, never opted out of anything and can be
    reached on some channel; of ``chosen`` (invitation ids) when given. Walk-ins were never invited. As for the
    resend to non-responders, any opt-out counts: a guest who answered BAJA on WhatsApp asked for no more
    invitations, and gets no reminder by e-mail either."""
    invited = Exists(Message.objects.filter(invitation=OuterRef("pk"), kind=Message.Kind.INVITATION,
                                            state__in=WENT_OUT))
    guests = Invitation.objects.filter(invited, REACHABLE, NEVER_OPTED_OUT, campaign=campaign, walk_in=False,
                                       answer=Invitation.Answer.PENDING)
    return guests.filter(pk__in=chosen) if chosen else guests


def spoken(moment: datetime) -> str:
    """The moment in Spanish words whatever the staff member's screen language: "jueves 10 de diciembre a las 18:00"."""
    with translation.override(settings.LANGUAGE_CODE):
        return formats.date_format(timezone.localtime(moment), "l j \\d\\e F \\a \\l\\a\\s H:i").lower()


def reminder_payload(*, message: Message, invitation: Invitation, campaign: Campaign,
                     page_button: int | None) -> dict:
    """WhatsApp: the approved template with the invitation's parameters, its two answer buttons and (at
    ``page_button``) the guest's personal page; e-mail: the same in plain Spanish with the guest's personal link."""
    contact, values = invitation.contact, values_for(campaign, invitation.contact)
    if message.channel == WHATSAPP:
        return build_template_payload(
            to_e164=contact.mobile, template_name=REMINDER_TEMPLATE, language=TEMPLATE_LANGUAGE,
            callback_data=str(message.public_id),
            body_params=[str(contact), values["evento"], values["fecha"], values["hora"], values["lugar"]],
            quick_reply_payloads=[rsvp_quick_reply_payload(invitation.token, answer) for answer in ("yes", "no")],
            url_suffix=None if page_button is None else (page_button, invitation.token))
    link, deadline = rsvp_link(invitation), campaign.rsvp_deadline
    with translation.override(settings.LANGUAGE_CODE):  # guests hear from the office in Spanish
        event = _("Le recordamos que %(event)s es el %(date)s a las %(time)s horas en %(venue)s.") % {
            "event": values["evento"], "date": values["fecha"], "time": values["hora"], "venue": values["lugar"]}
        if deadline:
            answer = _("Aún no tenemos su respuesta. Le agradeceremos confirmar su asistencia antes del "
                       "%(deadline)s aquí: %(link)s") % {"deadline": spoken(deadline), "link": link}
        else:
            answer = _("Aún no tenemos su respuesta. Confirme su asistencia aquí: %(link)s") % {"link": link}
        text = f"{contact}:\n\n{event}\n\n{answer}\n\n" + _("Dirección de Relaciones Públicas") + "\n"
        subject = _("Recordatorio: %(event)s") % {"event": values["evento"]}
    return {"to": contact.email, "subject": subject, "text": text, "rsvp_url": link}


def reminder_rows(*, campaign, chosen, number: int) -> list[Message]:
    rows, page_button = [], page_button_index(REMINDER_TEMPLATE, TEMPLATE_LANGUAGE)
    for invitation in reminder_targets(campaign, chosen).select_related("contact").order_by("pk"):
        contact = invitation.contact
        for channel, reached, address in ((WHATSAPP, contact.reachable_by_whatsapp, contact.mobile),
                                          (EMAIL, contact.reachable_by_email, contact.email)):
            if reached:
                message = Message(campaign=campaign, invitation=invitation, channel=channel, round=number,
                                  kind=Message.Kind.REMINDER, address=address)
                message.payload = reminder_payload(message=message, invitation=invitation, campaign=campaign,
                                                   page_button=page_button)
                rows.append(message)
    return rows


# --------------------------------------------------------------------------- checks


def check_remindable(campaign: Campaign, now: datetime) -> None:
    """A reminder needs a send that went out, an event still ahead with its date and venue (the template fills
    them), and guests who may still answer."""
    if campaign.state not in OPEN_SEND:
        raise SendRefused(_("La solicitud %(folio)s está «%(state)s»: los recordatorios son para un envío en curso "
                            "o terminado.") % {"folio": campaign.folio, "state": campaign.get_state_display()})
    if not campaign.starts_at or not campaign.venue.strip():
        raise SendRefused(_("Faltan la fecha y hora del evento o el lugar: el recordatorio los menciona."))
    if campaign.starts_at <= now:
        raise SendRefused(_("El evento ya pasó (%(when)s).") % {"when": local(campaign.starts_at)})
    if campaign.rsvp_deadline and campaign.rsvp_deadline <= now:
        raise SendRefused(_("La fecha límite para confirmar ya pasó (%(when)s): los invitados sin respuesta ya no "
                            "pueden confirmar.") % {"when": local(campaign.rsvp_deadline)})


def reminder_time(campaign: Campaign, anchor: str, days_before: int) -> datetime:
    """The moment a reminder planned ``days_before`` days before the deadline or the event goes out (at SEND_AT,
    local time). Refused in Spanish when that date is missing, the day is out of range or the moment is past."""
    if anchor not in Reminder.Anchor.values:
        raise SendRefused(_("Elija si el recordatorio es antes de la fecha límite para confirmar o antes del evento."))
    if not DAYS_MIN <= days_before <= DAYS_MAX:
        raise SendRefused(_("Elija de %(min)d a %(max)d días antes.") % {"min": DAYS_MIN, "max": DAYS_MAX})
    moment = campaign.rsvp_deadline if anchor == Reminder.Anchor.DEADLINE else campaign.starts_at
    if moment is None:
        raise SendRefused(_("La solicitud no tiene fecha límite para confirmar; elija un recordatorio antes del "
                            "evento.") if anchor == Reminder.Anchor.DEADLINE
                          else _("La solicitud no tiene fecha del evento."))
    day = timezone.localtime(moment).date() - timedelta(days=days_before)
    when = datetime.combine(day, SEND_AT, tzinfo=timezone.get_default_timezone())
    if when <= timezone.now():
        raise SendRefused(_("%(days)d días antes de %(anchor)s es el %(when)s, que ya pasó: elija menos días o "
                            "envíe el recordatorio ahora.") % {
            "days": days_before, "anchor": Reminder.Anchor(anchor).label, "when": local(when)})
    if campaign.rsvp_deadline and when >= campaign.rsvp_deadline:
        raise SendRefused(_("El recordatorio saldría el %(when)s, después de la fecha límite para confirmar "
                            "(%(deadline)s): los invitados ya no podrían responder.") % {
            "when": local(when), "deadline": local(campaign.rsvp_deadline)})
    return when


def chosen_guests(campaign, wanted) -> list[int]:
    """The chosen invitations that may get a reminder now (others answered meanwhile or are not this campaign's)."""
    if not wanted:
        return []
    chosen = sorted(reminder_targets(campaign, wanted).values_list("pk", flat=True))
    if not chosen:
        raise SendRefused(_("Los invitados elegidos ya respondieron o ya no se les puede escribir."))
    return chosen


# --------------------------------------------------------------------------- plan, cancel, send now


def reminder_plan(*, campaign: Campaign, actor, anchor: str, days_before: int, chosen=()) -> Reminder:
    """Plans a reminder and enqueues the task that writes it at its time. ``chosen``: invitation ids, empty for
    every pending guest. The same plan twice (a double submit) is refused."""
    social_media_only(actor, campaign, _("programa recordatorios"))
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        check_remindable(campaign, timezone.now())
        when = reminder_time(campaign, anchor, days_before)
        chosen = chosen_guests(campaign, chosen)
        planned = Reminder.objects.filter(campaign=campaign, cancelled_at__isnull=True, round__isnull=True,
                                          scheduled_for=when)
        if any(sorted(plan.invitation_ids) == chosen for plan in planned):
            raise SendRefused(_("Ese recordatorio ya está programado para el %(when)s.") % {"when": local(when)})
        reminder = Reminder.objects.create(campaign=campaign, anchor=anchor, days_before=days_before,
                                           scheduled_for=when, invitation_ids=chosen, created_by=actor)
        audit_log(campaign=campaign, actor=actor, action="sending.reminder_planned",
                  comment=_("Recordatorio programado para el %(when)s, %(to)s.") % {
                      "when": local(when), "to": audience(reminder)},
                  data={"reminder": reminder.pk, "scheduled_for": when.isoformat(), "anchor": anchor,
                        "days_before": days_before, "chosen": len(chosen)})
        # The task queue is this database: enqueued in the same transaction, the task exists exactly when the plan
        # does, and it re-checks the plan at its time.
        reminder_task.using(run_after=when).enqueue(reminder.pk)
    return reminder


def reminder_cancel(*, campaign: Campaign, actor, reminder_id: int) -> bool:
    """Calls a planned reminder off; its task finds it cancelled and writes nothing. False if it was not planned."""
    social_media_only(actor, campaign, _("cancela recordatorios"))
    with transaction.atomic():
        reminder = Reminder.objects.select_for_update().filter(
            pk=reminder_id, campaign=campaign, cancelled_at__isnull=True, round__isnull=True).first()
        if reminder is None:
            return False
        reminder.cancelled_at = timezone.now()
        reminder.save(update_fields=["cancelled_at"])
        audit_log(campaign=campaign, actor=actor, action="sending.reminder_cancelled",
                  comment=_("Se canceló el recordatorio programado para el %(when)s.") % {
                      "when": local(reminder.scheduled_for)}, data={"reminder": reminder.pk})
    return True


def reminder_now(*, campaign: Campaign, actor, chosen=()) -> Reminder:
    """Writes a reminder round right away (same targeting as a plan). Refused when nobody is left to remind or the
    same guests got one less than an hour ago (a double click): then nothing is written."""
    social_media_only(actor, campaign, _("envía recordatorios"))
    with transaction.atomic():
        campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
        now = timezone.now()
        check_remindable(campaign, now)
        if campaign.state == State.SENDING:
            raise SendRefused(_("El envío sigue en curso: envíe el recordatorio cuando termine, o prográmelo (saldrá "
                                "al terminar el envío)."))
        chosen = chosen_guests(campaign, chosen)
        recent = Reminder.objects.filter(campaign=campaign, round__gt=0, scheduled_for__gte=now - NOW_REPEAT_GUARD,
                                         scheduled_for__lte=now)
        if last := next((r for r in recent.order_by("-scheduled_for") if sorted(r.invitation_ids) == chosen), None):
            raise SendRefused(_("Estos invitados ya recibieron un recordatorio a las %(time)s; espere una hora para "
                                "enviar otro.") % {"time": formats.time_format(timezone.localtime(last.scheduled_for))})
        reminder = Reminder.objects.create(campaign=campaign, days_before=0, scheduled_for=now,
                                           invitation_ids=chosen, created_by=actor)
        if not round_write(campaign=campaign, reminder=reminder, actor=actor):
            raise SendRefused(_("No hay invitados sin respuesta a quienes se pueda escribir."))
    return reminder


# --------------------------------------------------------------------------- writing the round


def audience(reminder: Reminder) -> str:
    if not reminder.invitation_ids:
        return _("a todos los invitados sin respuesta")
    n = len(reminder.invitation_ids)
    return ngettext("a %(n)d invitado elegido (si sigue sin respuesta)",
                    "a %(n)d invitados elegidos (si siguen sin respuesta)", n) % {"n": n}


def round_write(*, campaign: Campaign, reminder: Reminder, actor) -> int:
    """Writes the reminder's round to the guests still pending, for a sent campaign whose row the caller locked, and
    moves it back to sending. Returns how many messages (0: nobody was left); the reminder keeps both."""
    number = next_round(campaign)
    rows = reminder_rows(campaign=campaign, chosen=reminder.invitation_ids, number=number)
    reminder.round, reminder.sent_count = (number if rows else 0), len(rows)
    reminder.save(update_fields=["round", "sent_count"])
    if not rows:
        return 0
    Message.objects.bulk_create(rows, batch_size=1000)
    outbox_written(len(rows))
    comment = _("Recordatorio, ronda %(round)d: %(n)d mensajes %(to)s.") % {
        "round": number, "n": len(rows), "to": audience(reminder)}
    data = {"target": "reminder", "reminder": reminder.pk, "round": number, "messages": len(rows)}
    campaign_transition(campaign=campaign, actor=actor, name="resend", expected_state=State.SENT, comment=comment,
                        data=data)
    return len(rows)


def reminder_run(reminder_id: int) -> str:
    """What the task does at the planned time: write the round, only if the plan still stands (not cancelled, not
    written yet), once the invitations' send has ended. A refusal (the event passed, the campaign was closed, the
    planner lost the role) is recorded and told to Redes Sociales, since nobody is watching the screen."""
    with transaction.atomic():
        reminder = Reminder.objects.filter(pk=reminder_id).first()
        if reminder is None:
            return "called off"
        campaign = Campaign.objects.select_for_update().get(pk=reminder.campaign_id)
        reminder = Reminder.objects.select_for_update().get(pk=reminder_id)
        if reminder.cancelled_at is not None:
            return "called off"
        if reminder.round is not None:
            return "already written"
        try:
            with transaction.atomic():
                actor = reminder.created_by
                if actor is None:
                    raise SendRefused(_("la persona que lo programó ya no tiene usuario."))
                social_media_only(actor, campaign, _("envía recordatorios"))
                check_remindable(campaign, timezone.now())
                if campaign.state == State.SENDING:
                    reminder_task.using(run_after=timezone.now() + SEND_WAIT).enqueue(reminder.pk)
                    return "waiting for the send to end"
                written = round_write(campaign=campaign, reminder=reminder, actor=actor)
        except (SendRefused, PermissionDenied, TransitionConflict) as refusal:
            reminder.round, reminder.sent_count = 0, 0
            reminder.save(update_fields=["round", "sent_count"])
            entry = audit_log(campaign=campaign, actor=None, action="sending.reminder_failed",
                              comment=_("El recordatorio programado para el %(when)s no se envió: %(why)s") % {
                                  "when": local(reminder.scheduled_for), "why": refusal},
                              data={"reminder": reminder.pk})
            notify(entry=entry, roles={Role.SOCIAL_MEDIA})
            return "refused"
        if not written:
            audit_log(campaign=campaign, actor=None, action="sending.reminder_sent",
                      comment=_("Recordatorio del %(when)s: ningún invitado seguía sin respuesta; no se envió nada.")
                      % {"when": local(reminder.scheduled_for)}, data={"reminder": reminder.pk, "messages": 0})
    return f"written: {written} messages"


@task()
def reminder_task(reminder_id: int) -> str:
    """Writes a planned reminder at its time (enqueued with ``run_after``); see reminder_run."""
    return reminder_run(reminder_id)


# --------------------------------------------------------------------------- the panel


def reminder_template_unapproved() -> bool:
    """The synced WhatsApp templates (when synced at all) lack an approved reminder: its messages would fail."""
    synced = WhatsAppTemplate.objects.all()
    return synced.exists() and not synced.filter(name=REMINDER_TEMPLATE, language=TEMPLATE_LANGUAGE,
                                                 status="APPROVED").exists()


def reminders_panel_context(request, campaign: Campaign) -> dict:
    """The reminders part of the send panel: every reminder of the campaign, and for Redes Sociales while the send
    is open, the form with the pending guests to choose from."""
    can_remind = campaign.state in OPEN_SEND and acts_as(request.user, Role.SOCIAL_MEDIA, campaign)
    context = {"reminders": list(campaign.reminders.select_related("created_by")), "can_remind": can_remind}
    if can_remind:
        guests = reminder_targets(campaign).select_related("contact").order_by("contact__name", "pk")
        context.update({
            "reminder_guests": guests[:CHECKLIST_MAX], "reminder_pending": guests.count(),
            "reminder_days": (DAYS_MIN, DAYS_MAX), "reminder_send_at": SEND_AT,
            "reminder_template_unapproved": reminder_template_unapproved(),
        })
    return context
