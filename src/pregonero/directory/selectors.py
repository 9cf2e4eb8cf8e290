"""Reads of the directory. Sections: contact search and filters · counts · one contact's page · duplicates.

Everything here is written for a directory of a million contacts: filters are plain indexed or LIKE conditions
on one table, related rows come with prefetch_related, and counts are conditional aggregates in one query.
"""

import re

from django.db.models import Count, Prefetch, Q, QuerySet

from pregonero.rsvp.models import Invitation

from .models import Contact, ContactEvent, DuplicateCandidate, Sector
from .normalize import name_key, normalize_phone

# --------------------------------------------------------------------------- contact search and filters

MIN_PHONE_DIGITS = 3  # fewer digits than this would match most of the directory


def _folded(term: str) -> str:
    """The term folded like Contact.name_key (casefold, no accents or punctuation), so "jose" finds "José"."""
    return name_key(term, "").rstrip("|")


def _term_condition(term: str) -> Q:
    condition = (
        Q(name__icontains=term) | Q(organization__icontains=term) | Q(position__icontains=term)
        | Q(honorific__iexact=term) | Q(email__icontains=term)
    )
    folded = _folded(term)
    if folded:
        condition |= Q(name_key__contains=folded)
    digits = re.sub(r"\D", "", term)
    if len(digits) >= MIN_PHONE_DIGITS:
        condition |= Q(mobile__contains=digits)
    return condition


def contact_search(contacts: QuerySet, q: str) -> QuerySet:
    """Every word must appear in the name, organization, position, e-mail or mobile digits.

    A whole phone number, however typed ("998 123 4567", "044 998…"), is looked up exactly; other digits
    ("4567") match anywhere in the mobile.
    """
    q = " ".join(q.split())
    if not q:
        return contacts
    e164 = normalize_phone(q).e164
    if e164:
        return contacts.filter(mobile=e164)  # a whole number: the mobile index answers at once
    if re.fullmatch(r"[\d\s()+.-]+", q):
        return contacts.filter(_term_condition(q))
    for term in q.split(" "):
        contacts = contacts.filter(_term_condition(term))
    return contacts


NOT_WHATSAPP_REACHABLE = Q(mobile="") | Q(whatsapp_opt_out=True) | Q(whatsapp_unavailable_at__isnull=False)
NOT_EMAIL_REACHABLE = Q(email="") | Q(email_opt_out=True)
OPTED_OUT = Q(whatsapp_opt_out=True) | Q(email_opt_out=True)


def _tri_state(contacts: QuerySet, wanted: bool | None, negative: Q) -> QuerySet:
    if wanted is None:
        return contacts
    return contacts.exclude(negative) if wanted else contacts.filter(negative)


def contacts_filtered(
    *, q: str = "", sector=None, tag=None, organization: str = "",
    whatsapp: bool | None = None, email: bool | None = None, opted_out: bool | None = None,
) -> QuerySet:
    """Live contacts (not merged, not erased) matching the list page's search and filters."""
    contacts = contact_search(Contact.objects.live(), q)
    if sector is not None:
        contacts = contacts.filter(sectors=sector)
    if tag is not None:
        contacts = contacts.filter(tags=tag)
    if organization.strip():
        contacts = contacts.filter(organization__icontains=organization.strip())
    contacts = _tri_state(contacts, whatsapp, NOT_WHATSAPP_REACHABLE)
    contacts = _tri_state(contacts, email, NOT_EMAIL_REACHABLE)
    contacts = _tri_state(contacts, opted_out, ~OPTED_OUT)
    return contacts.order_by("name", "pk")


def with_labels(contacts: QuerySet) -> QuerySet:
    """What a list row shows besides the contact's own columns; two queries per page in all."""
    return contacts.prefetch_related("sectors", "tags")


# --------------------------------------------------------------------------- counts (no personal data)

LIVE = Q(merged_into__isnull=True, erased_at__isnull=True)
LIVE_IN_SECTOR = Q(contacts__merged_into__isnull=True, contacts__erased_at__isnull=True)


def directory_counts() -> dict:
    """Totals anyone in the office may see: how many, reachable how, opted out, per sector."""
    totals = Contact.objects.live().aggregate(
        total=Count("pk"),
        whatsapp=Count("pk", filter=~NOT_WHATSAPP_REACHABLE),
        email=Count("pk", filter=~NOT_EMAIL_REACHABLE),
        opted_out=Count("pk", filter=OPTED_OUT),
    )
    totals["sectors"] = list(Sector.objects.annotate(live_count=Count("contacts", filter=LIVE_IN_SECTOR)))
    return totals


# --------------------------------------------------------------------------- one contact's page


def contact_for_page(pk: int) -> Contact:
    """Any contact, live or not: a merged one still has a page that points to where it went."""
    return (
        Contact.objects.select_related("merged_into", "import_batch", "created_by")
        .prefetch_related("sectors", "tags", Prefetch("merged", queryset=Contact.objects.order_by("pk")))
        .get(pk=pk)
    )


def contact_history(contact: Contact) -> list[ContactEvent]:
    """The contact's events, oldest first, each merge event carrying `other` (the contact on the other side)."""
    events = list(contact.events.select_related("actor", "import_batch").order_by("at", "pk"))
    other_ids = {e.data.get("absorbed") or e.data.get("merged_into") for e in events if e.kind == ContactEvent.Kind.MERGED}
    others = Contact.objects.in_bulk([pk for pk in other_ids if isinstance(pk, int)])
    for event in events:
        other_id = event.data.get("absorbed") or event.data.get("merged_into")
        event.other = others.get(other_id) if event.kind == ContactEvent.Kind.MERGED else None
    return events


def contact_invitations(contact: Contact) -> QuerySet:
    return Invitation.objects.filter(contact=contact).select_related("campaign").order_by("-created_at", "-pk")


# --------------------------------------------------------------------------- duplicates


def pending_duplicates() -> QuerySet:
    """Pairs waiting for a person; a pair with a contact already merged or erased elsewhere cannot be merged."""
    return (
        DuplicateCandidate.objects.filter(status=DuplicateCandidate.Status.PENDING)
        .filter(contact__merged_into__isnull=True, contact__erased_at__isnull=True)
        .filter(other__merged_into__isnull=True, other__erased_at__isnull=True)
        .select_related("contact", "other", "contact__import_batch", "other__import_batch")
        .prefetch_related("contact__sectors", "contact__tags", "other__sectors", "other__tags")
        .order_by("created_at", "pk")
    )
