"""Recording a guest's answer, whichever way it arrives (WhatsApp button, personal link, staff).

Every path calls ``invitation_answer``: the last answer wins, every answer stays in ``AnswerRecord`` with who
recorded it, how and a note, and the guest gets a confirmation (see ``confirmations``): the answer's history row
says it is due, in the answer's own transaction.
"""

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from pregonero.campaigns.models import Campaign, State

from .lookup import invitation_locked
from .models import AnswerRecord, Invitation

ANSWERING_STATES = (State.SENDING, State.SENT)


class AnswerRefused(Exception):
    """The answer cannot be taken (campaign cancelled or closed, deadline passed, too many companions); the
    message says why, in words the guest or the staff member understands."""


def answer_deadline(campaign: Campaign):
    """Until when guests may answer or change their mind: the RSVP deadline, else the start of the event."""
    return campaign.rsvp_deadline or campaign.starts_at


def guest_refusal(campaign: Campaign, *, staff: bool = False) -> str:
    """Why an answer would be refused now ("" when it would be taken). Staff may still record after the deadline."""
    if campaign.state == State.CANCELLED:
        return _("El evento «%(title)s» fue cancelado; ya no recibe respuestas.") % {"title": campaign.title}
    if campaign.state not in ANSWERING_STATES:
        return _("El evento «%(title)s» ya no recibe respuestas.") % {"title": campaign.title}
    deadline = answer_deadline(campaign)
    if not staff and deadline and timezone.now() > deadline:
        return _("La fecha límite para confirmar «%(title)s» ya pasó.") % {"title": campaign.title}
    return ""


def companions_refusal(campaign: Campaign, companions: int) -> str:
    if 0 <= companions <= campaign.max_companions:
        return ""
    if campaign.max_companions == 0:
        return _("Esta invitación es personal: no incluye acompañantes.")
    return ngettext("Puede registrar de 0 a %(max)d acompañante.", "Puede registrar de 0 a %(max)d acompañantes.",
                    campaign.max_companions) % {"max": campaign.max_companions}


@transaction.atomic
def invitation_answer(*, invitation: Invitation, answer: str, via: str, companions: int = 0, actor=None,
                      note: str = "", confirm: bool = True) -> Invitation:
    """Records ``answer`` (attending or declined) for the invitation. ``actor`` is the staff member who recorded
    it (None: the guest). Raises AnswerRefused. With ``confirm``, a changed answer is confirmed to the guest."""
    # The campaign is read again here, not taken from the caller's objects: a door or staff screen may hold a
    # campaign that has been closed or cancelled since.
    locked = invitation_locked(invitation.pk)
    if locked is None:  # deleted since the caller read it (as the ORM's get() would say)
        raise Invitation.DoesNotExist
    answer_take(locked, answer=answer, via=via, companions=companions, actor=actor, note=note, confirm=confirm)
    invitation.answer, invitation.companions, invitation.answered_via, invitation.answered_at = (
        locked.answer, locked.companions, locked.answered_via, locked.answered_at)
    return invitation


def answer_take(locked: Invitation, *, answer: str, via: str, companions: int = 0, actor=None, note: str = "",
                confirm: bool = True) -> None:
    """``invitation_answer``'s work on an invitation the caller read under its lock in the transaction it is in
    (rsvp/lookup.py), with its campaign as it is now; ``locked`` then holds the answer."""
    campaign, current = locked.campaign, (locked.answer, locked.companions)
    if answer not in (Invitation.Answer.ATTENDING, Invitation.Answer.DECLINED):
        raise AnswerRefused(_("Elija si asistirá o no."))
    refusal = guest_refusal(campaign, staff=actor is not None)
    companions = companions if answer == Invitation.Answer.ATTENDING else 0
    refusal = refusal or companions_refusal(campaign, companions)
    if refusal:
        raise AnswerRefused(refusal)
    changed = current != (answer, companions)
    now = timezone.now()
    due = confirm and changed
    record_id = answer_store(locked.pk, answer, companions, via, now, actor.pk if actor else None, note[:300],
                             confirm_due=due)
    locked.answer, locked.companions, locked.answered_via, locked.answered_at = answer, companions, via, now
    if due:
        from .confirmations import confirmations_wake

        transaction.on_commit(lambda: confirmations_wake(record_id))


def answer_store(invitation_id: int, answer: str, companions: int, via: str, now, actor_id: int | None,
                 note: str, *, confirm_due: bool) -> int:
    """The answer on the invitation and in its history, in two statements written once; returns the history row's
    id. Composed by the ORM (an update() and a create()), they cost a guest's answer more CPU than its lookups and
    its commit together (bench/rsvp_load.py --profile)."""
    quote, when = connection.ops.quote_name, connection.ops.adapt_datetimefield_value(now)
    invitations, records = (quote(model._meta.db_table) for model in (Invitation, AnswerRecord))
    columns = ", ".join(quote(name) for name in ("invitation_id", "answer", "companions", "via", "at",
                                                 "recorded_by_id", "note", "confirm_due"))
    # Only the models' table names and our column names, quoted; every value is a parameter.
    update = (f"UPDATE {invitations} SET answer = %s, companions = %s, answered_via = %s, "  # nosec B608
              "answered_at = %s WHERE id = %s")
    insert = f"INSERT INTO {records} ({columns}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id"  # nosec B608
    with connection.cursor() as cursor:
        cursor.execute(update, [answer, companions, via, when, invitation_id])
        cursor.execute(insert, [invitation_id, answer, companions, via, when, actor_id, note, confirm_due])
        return cursor.fetchone()[0]


def answer_summary(invitation: Invitation) -> str:
    """What the guest chose, in the guest's words ("" while there is no answer)."""
    if invitation.answer == Invitation.Answer.DECLINED:
        return _("Usted indicó que no podrá asistir.")
    if invitation.answer != Invitation.Answer.ATTENDING:
        return ""
    if not invitation.companions:
        return _("Usted confirmó su asistencia.")
    return ngettext("Usted confirmó su asistencia con %(n)d acompañante.",
                    "Usted confirmó su asistencia con %(n)d acompañantes.", invitation.companions) % {
        "n": invitation.companions}
