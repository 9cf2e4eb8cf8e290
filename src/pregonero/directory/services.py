"""Writes to the directory: every change to a person leaves an event in their history.

Two rules hold everywhere here: an opt-out is never undone by anything but the person's own new consent, and a
merge keeps both histories (the absorbed contact stays, pointing to the one it was merged into).
"""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Contact, ContactEvent, DuplicateCandidate
from .normalize import name_key

EDITABLE_FIELDS = (
    "honorific", "name", "position", "organization", "mobile", "office_phone", "office_extension", "email",
    "consent_basis", "consent_source", "consent_date", "notes",
)
# Filled from the absorbed contact only when the kept one has nothing there.
MERGE_FILL_FIELDS = EDITABLE_FIELDS


def contact_event(*, contact, kind, actor=None, batch=None, **data) -> ContactEvent:
    return ContactEvent.objects.create(contact=contact, kind=kind, actor=actor, import_batch=batch, data=data)


def changed_fields(contact: Contact, values: dict) -> dict:
    return {
        name: [str(getattr(contact, name) or ""), str(value or "")]
        for name, value in values.items()
        if (getattr(contact, name) or "") != (value or "")
    }


def tacit_consent_source(provenance: str) -> str:
    """The consent of a person nobody recorded a basis for is tacit (LGPDPPSO): every message carries the
    simplified privacy notice and the way to opt out, and they did not object."""
    return (_("%(provenance)s (consentimiento tácito)") % {"provenance": provenance})[:200]


def record_consent(contact: Contact) -> None:
    """Every new contact says on what basis, from where and since when the office holds it (DESIGN §7). Tacit
    consent needs a known origin: every creation path gives one (the form, the door, an import)."""
    if not contact.consent_basis and contact.provenance:
        contact.consent_basis = Contact.ConsentBasis.CONSENT
        contact.consent_source = contact.consent_source or tacit_consent_source(contact.provenance)
    if contact.consent_basis:
        contact.consent_source = contact.consent_source or contact.provenance[:200]
        contact.consent_date = contact.consent_date or timezone.localdate()


@transaction.atomic
def contact_create(*, actor, values: dict, sectors=(), tags=(), provenance: str = "") -> Contact:
    contact = Contact(**values, created_by=actor, provenance=provenance or "")
    record_consent(contact)
    contact.name_key = name_key(contact.name, contact.organization)
    contact.save()
    contact.sectors.set(sectors)
    contact.tags.set(tags)
    contact_event(contact=contact, kind=ContactEvent.Kind.CREATED, actor=actor, provenance=contact.provenance)
    return contact


@transaction.atomic
def contact_update(*, contact: Contact, actor, values: dict, sectors=None, tags=None, kind=ContactEvent.Kind.UPDATED):
    """Edits a contact and records what changed (old and new values) in its history."""
    changes = changed_fields(contact, values)
    for name, value in values.items():
        setattr(contact, name, value)
    contact.name_key = name_key(contact.name, contact.organization)
    contact.save()
    if sectors is not None:
        contact.sectors.set(sectors)
    if tags is not None:
        contact.tags.set(tags)
    if changes or sectors is not None or tags is not None:
        contact_event(contact=contact, kind=kind, actor=actor, changes=changes)
    return contact


@transaction.atomic
def contact_opt_out(*, contact: Contact, actor=None, whatsapp=True, email=True, source: str = "") -> Contact:
    fields = []
    if whatsapp and not contact.whatsapp_opt_out:
        contact.whatsapp_opt_out = True
        fields.append("whatsapp_opt_out")
    if email and not contact.email_opt_out:
        contact.email_opt_out = True
        fields.append("email_opt_out")
    if fields:
        contact.opted_out_at = timezone.now()
        contact.save(update_fields=[*fields, "opted_out_at", "updated_at"])
        contact_event(contact=contact, kind=ContactEvent.Kind.OPT_OUT, actor=actor, channels=fields, source=source)
    return contact


@transaction.atomic
def contact_merge(*, keep: Contact, absorb: Contact, actor=None, batch=None, reason: str = "") -> Contact:
    """Folds `absorb` into `keep`: blanks filled, sectors and tags united, opt-outs kept, histories linked."""
    if keep.pk == absorb.pk:
        return keep
    filled = {name: getattr(absorb, name) for name in MERGE_FILL_FIELDS if not getattr(keep, name) and getattr(absorb, name)}
    for name, value in filled.items():
        setattr(keep, name, value)
    keep.whatsapp_opt_out |= absorb.whatsapp_opt_out
    keep.email_opt_out |= absorb.email_opt_out
    keep.opted_out_at = keep.opted_out_at or absorb.opted_out_at
    keep.whatsapp_unavailable_at = keep.whatsapp_unavailable_at or absorb.whatsapp_unavailable_at
    keep.name_key = name_key(keep.name, keep.organization)
    keep.save()
    keep.sectors.add(*absorb.sectors.all())
    keep.tags.add(*absorb.tags.all())
    absorb.merged_into = keep
    absorb.save(update_fields=["merged_into", "updated_at"])
    contact_event(contact=keep, kind=ContactEvent.Kind.MERGED, actor=actor, batch=batch, absorbed=absorb.pk,
                  filled=sorted(filled), reason=reason)
    contact_event(contact=absorb, kind=ContactEvent.Kind.MERGED, actor=actor, batch=batch, merged_into=keep.pk,
                  reason=reason)
    DuplicateCandidate.objects.filter(
        Q(contact=absorb) | Q(other=absorb), status=DuplicateCandidate.Status.PENDING
    ).update(status=DuplicateCandidate.Status.MERGED, resolved_by=actor, resolved_at=timezone.now())
    return keep


@transaction.atomic
def contact_mark_whatsapp_unavailable(*, mobile: str, source: str = "131026") -> int:
    """The provider answered "not on WhatsApp" for this number: every live contact holding it stops getting
    WhatsApp (e-mail still reaches them). Returns how many contacts were marked; marking twice changes nothing."""
    now = timezone.now()
    marked = list(Contact.objects.live().filter(mobile=mobile, whatsapp_unavailable_at__isnull=True))
    for contact in marked:
        contact.whatsapp_unavailable_at = now
        contact.save(update_fields=["whatsapp_unavailable_at", "updated_at"])
        contact_event(contact=contact, kind=ContactEvent.Kind.WHATSAPP_UNAVAILABLE, source=source)
    return len(marked)
