"""Retention: RETENTION_MONTHS after a campaign's event (or after it was closed, rejected or cancelled), what
identifies its guests goes; its counts stay.

Per campaign, in one transaction with one audit entry: the messages' address and contents
(``Message.PERSONAL_FIELDS``), the WhatsApp number of the replies, the staff's notes on answers, the requester's
guest-list spreadsheets, and the personal links (new tokens: an old link no longer opens a page with the guest's
name). The people who came without invitation are erased with the ARCO cancellation when the door created them
for this campaign only. Directory contacts stay (they are the directory's, with their own ARCO duties), and so do
the invitations with their answers, companions and check-ins: the reports keep adding up.

A campaign is done once (its audit entry marks it), so a second run changes nothing. Raw webhooks and replies
that belong to no campaign are purged by their own date.
"""

import calendar
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from pregonero.campaigns.models import FINAL_STATES, AttachmentKind, AuditEntry, Campaign, State
from pregonero.campaigns.services import audit_log
from pregonero.rsvp.models import AnswerRecord, Invitation, new_token
from pregonero.sending.models import InboundMessage, Message, WebhookEvent

from .arco import contact_erase
from .models import Contact, ImportBatch, ImportIssue

PURGE_ACTION = "campaign.retention_purge"


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` calendar months earlier (the 31st becomes the month's last day)."""
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def retention_cutoff(now: datetime | None = None) -> datetime:
    return months_before(timezone.localtime(now or timezone.now()), settings.RETENTION_MONTHS)


def campaigns_due(cutoff: datetime):
    """Campaigns whose event took place, or which ended, before ``cutoff`` and were not purged yet. A campaign
    still sending is left alone: its queued messages need their contents."""
    event_over = Q(starts_at__lt=cutoff) & ~Q(state=State.SENDING)
    ended = Q(state__in=FINAL_STATES, state_changed_at__lt=cutoff)
    purged = AuditEntry.objects.filter(action=PURGE_ACTION, campaign__isnull=False).values("campaign_id")
    return Campaign.objects.filter(event_over | ended).exclude(pk__in=purged).order_by("pk")


@dataclass
class Purge:
    campaign: Campaign | None  # None: the purge of what belongs to no campaign
    counts: dict = field(default_factory=dict)

    @property
    def changed(self) -> int:
        return sum(self.counts.values())


def walk_ins_of(campaign: Campaign):
    """Contacts the door created for this campaign and nothing else uses: no other invitation, not merged."""
    return (
        Contact.objects.filter(invitations__campaign=campaign, invitations__walk_in=True, erased_at__isnull=True,
                               merged_into__isnull=True)
        .exclude(pk__in=Invitation.objects.exclude(campaign=campaign).values("contact_id"))
        .exclude(pk__in=Contact.objects.filter(merged_into__isnull=False).values("merged_into_id"))
    )


def delete_files_after_commit(files) -> None:
    names = [(f.storage, f.name) for f in files if f]
    transaction.on_commit(lambda: [storage.delete(name) for storage, name in names])


def campaign_purge(campaign: Campaign) -> Purge:
    """Purges one campaign (see the module's docstring); call inside a transaction."""
    Campaign.objects.select_for_update().get(pk=campaign.pk)  # one purge at a time per campaign
    blank = {name: Message._meta.get_field(name).get_default() for name in Message.PERSONAL_FIELDS}
    counts = {
        "messages": Message.objects.filter(campaign=campaign).update(**blank),
        "replies": InboundMessage.objects.filter(message__campaign=campaign).exclude(wa_id="").update(wa_id=""),
        "notes": AnswerRecord.objects.filter(invitation__campaign=campaign).exclude(note="").update(note=""),
    }
    invitations = list(Invitation.objects.filter(campaign=campaign).only("pk"))
    for invitation in invitations:
        invitation.token = new_token()
    Invitation.objects.bulk_update(invitations, ["token"], batch_size=1000)
    counts["links"] = len(invitations)
    walk_ins = list(walk_ins_of(campaign))
    for contact in walk_ins:
        contact_erase(contact=contact, actor=None, arco_request=None)
    counts["walk_ins"] = len(walk_ins)
    guest_lists = list(campaign.attachments.filter(kind=AttachmentKind.GUEST_LIST))
    batches = list(ImportBatch.objects.filter(campaign=campaign).exclude(file=""))
    delete_files_after_commit([a.file for a in guest_lists] + [b.file for b in batches])
    campaign.attachments.filter(pk__in=[a.pk for a in guest_lists]).delete()
    ImportBatch.objects.filter(pk__in=[b.pk for b in batches]).update(file="")
    ImportIssue.objects.filter(batch__campaign=campaign).update(values=[])
    counts["files"] = len(guest_lists) + len(batches)
    audit_log(campaign=campaign, actor=None, action=PURGE_ACTION, data={**counts, "months": settings.RETENTION_MONTHS},
              comment=_("Plazo de conservación cumplido (%(months)d meses): se eliminaron los datos personales de "
                        "los mensajes, las respuestas y los registros en la puerta; quedan las cifras.")
              % {"months": settings.RETENTION_MONTHS})
    return Purge(campaign, counts)


def unattached_purge(cutoff: datetime) -> Purge:
    """Raw webhooks already applied, and replies matched to no message, received before ``cutoff``."""
    webhooks, _rows = WebhookEvent.objects.filter(processed_at__isnull=False, received_at__lt=cutoff).delete()
    replies = InboundMessage.objects.filter(message__isnull=True, received_at__lt=cutoff).exclude(wa_id="")
    return Purge(None, {"webhooks": webhooks, "replies": replies.update(wa_id="")})


def retention_run(*, dry_run: bool = False, now: datetime | None = None) -> list[Purge]:
    """Purges every campaign that is due, each in its own transaction. With ``dry_run`` each purge is rolled
    back: the counts say what a real run would change, and nothing changes."""
    cutoff = retention_cutoff(now)
    purges = []
    for campaign in campaigns_due(cutoff):
        with transaction.atomic():
            purges.append(campaign_purge(campaign))
            transaction.set_rollback(dry_run)
    with transaction.atomic():
        purges.append(unattached_purge(cutoff))
        transaction.set_rollback(dry_run)
    return purges
