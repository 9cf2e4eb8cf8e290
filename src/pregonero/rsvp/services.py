"""Recording a guest's answer, whichever way it arrives (WhatsApp button, personal link, staff)."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from pregonero.campaigns.models import State

from .models import AnswerRecord, Invitation


class AnswerRefused(Exception):
    """The answer cannot be taken (campaign cancelled or closed, deadline passed); the message says why."""


@transaction.atomic
def invitation_answer(*, invitation: Invitation, answer: str, via: str, companions: int = 0, actor=None) -> Invitation:
    locked = Invitation.objects.select_for_update(of=("self",)).select_related("campaign").get(pk=invitation.pk)
    campaign = locked.campaign
    if campaign.state in (State.CANCELLED, State.CLOSED, State.REJECTED):
        raise AnswerRefused(_("El evento «%(title)s» ya no recibe respuestas.") % {"title": campaign.title})
    now = timezone.now()
    if campaign.rsvp_deadline and now > campaign.rsvp_deadline and actor is None:
        raise AnswerRefused(_("La fecha límite para confirmar «%(title)s» ya pasó.") % {"title": campaign.title})
    locked.answer, locked.companions = answer, companions if answer == Invitation.Answer.ATTENDING else 0
    locked.answered_via, locked.answered_at = via, now
    locked.save(update_fields=["answer", "companions", "answered_via", "answered_at"])
    AnswerRecord.objects.create(invitation=locked, answer=answer, companions=locked.companions, via=via, at=now,
                                recorded_by=actor)
    return locked
