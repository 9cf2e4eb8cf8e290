"""Reads: what a person may see, what waits for them, and the state of a request's checklist."""

from dataclasses import dataclass

from django.db.models import Prefetch

from pregonero.accounts.roles import Role, is_office_staff

from .models import Attachment, Campaign, ChecklistItem, State
from .workflow import waiting_roles

def campaigns_visible_to(user):
    campaigns = Campaign.objects.select_related("department")
    if not user.is_authenticated:
        return campaigns.none()
    if is_office_staff(user):
        return campaigns
    if user.has_role(Role.REQUESTER) and user.department_id:
        return campaigns.filter(department_id=user.department_id)
    return campaigns.none()


def inbox_for(user):
    """Campaigns waiting on one of the user's roles, the longest-waiting first."""
    states = [state for state in State if waiting_roles(state) & user.roles]
    return campaigns_visible_to(user).filter(state__in=states).order_by("state_changed_at", "pk")


def campaign_for_page(user, folio: str) -> Campaign:
    return campaigns_visible_to(user).prefetch_related(
        Prefetch("attachments", queryset=Attachment.objects.order_by("uploaded_at", "pk")), "target_sectors"
    ).get(folio=folio)


AUTOMATIC_CHECKS = {
    ChecklistItem.Rule.TITLE: lambda c: bool(c.title.strip()),
    ChecklistItem.Rule.STARTS_AT: lambda c: c.starts_at is not None,
    ChecklistItem.Rule.VENUE: lambda c: bool(c.venue.strip()),
    ChecklistItem.Rule.IMAGE: lambda c: c.invitation_image is not None,
    ChecklistItem.Rule.MESSAGE: lambda c: bool(c.message_text.strip()),
    ChecklistItem.Rule.GUESTS: lambda c: c.guest_list_file is not None or c.target_sectors.exists(),
    ChecklistItem.Rule.RSVP_DEADLINE: lambda c: c.rsvp_deadline is not None,
    ChecklistItem.Rule.DRESS_CODE: lambda c: bool(c.dress_code.strip()),
}


@dataclass(frozen=True)
class ChecklistRow:
    item: ChecklistItem
    automatic: bool | None  # None: a person decides


def checklist_rows(campaign: Campaign) -> list[ChecklistRow]:
    return [
        ChecklistRow(item, AUTOMATIC_CHECKS[item.rule](campaign) if item.rule in AUTOMATIC_CHECKS else None)
        for item in ChecklistItem.objects.filter(active=True)
    ]
