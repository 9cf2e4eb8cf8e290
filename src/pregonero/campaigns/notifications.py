"""Telling the next role: an in-app inbox line per person, and the same notice by e-mail after commit."""

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from pregonero.accounts.roles import Role

from .models import AuditEntry, Notification, State
from .workflow import OTHER_ACTIONS, TRANSITIONS

log = logging.getLogger(__name__)


def recipients(*, campaign, roles, exclude=None):
    User = get_user_model()
    wanted = Q(pk__in=[])
    for role in roles:
        holds = Q(groups__permissions__codename=f"act_as_{role.value}", groups__permissions__content_type__app_label="campaigns")
        if role == Role.REQUESTER:
            holds &= Q(department_id=campaign.department_id)
        wanted |= holds
    users = User.objects.filter(wanted, is_active=True).distinct()
    return users.exclude(pk=exclude.pk) if exclude is not None else users


def notify(*, entry: AuditEntry, roles) -> list[Notification]:
    people = list(recipients(campaign=entry.campaign, roles=roles, exclude=entry.actor))
    notes = Notification.objects.bulk_create(
        [Notification(recipient=person, campaign=entry.campaign, audit_entry=entry) for person in people]
    )
    ids = [note.pk for note in notes]
    if ids:
        from .tasks import email_notifications

        transaction.on_commit(lambda: email_notifications.enqueue(ids))
    return notes


def describe(entry: AuditEntry) -> str:
    """One line in the office's words: what happened to which request."""
    campaign = entry.campaign
    if entry.action == "campaign.create":
        return _("Nueva solicitud %(folio)s: «%(title)s».") % {"folio": campaign.folio, "title": campaign.title}
    transition = TRANSITIONS.get(entry.action.removeprefix("campaign."))
    return _("%(folio)s «%(title)s»: %(action)s — ahora «%(state)s».") % {
        "folio": campaign.folio,
        "title": campaign.title,
        "action": transition.label if transition else OTHER_ACTIONS.get(entry.action, entry.action),
        "state": State(entry.to_state).label if entry.to_state else campaign.get_state_display(),
    }


def send_notification_email(note: Notification) -> None:
    context = {
        "note": note,
        "entry": note.audit_entry,
        "campaign": note.campaign,
        "summary": describe(note.audit_entry),
        "url": settings.SITE_URL + reverse("campaigns:detail", args=[note.campaign.folio]),
    }
    subject = render_to_string("campaigns/email/notice_subject.txt", context).strip()
    message = EmailMultiAlternatives(
        subject=" ".join(subject.split()),
        body=render_to_string("campaigns/email/notice.txt", context),
        to=[note.recipient.email],
    )
    message.attach_alternative(render_to_string("campaigns/email/notice.html", context), "text/html")
    message.send()


def email_pending(notification_ids) -> int:
    sent = 0
    notes = Notification.objects.filter(pk__in=notification_ids, emailed_at__isnull=True).select_related(
        "recipient", "campaign", "audit_entry", "audit_entry__actor", "campaign__department"
    )
    with translation.override(settings.LANGUAGE_CODE):
        for note in notes:
            if not note.recipient.email:
                continue
            send_notification_email(note)
            note.emailed_at = timezone.now()
            note.save(update_fields=["emailed_at"])
            sent += 1
    log.info("notification e-mails sent: %d of %d", sent, len(notification_ids))
    return sent
