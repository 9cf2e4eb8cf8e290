"""Phase two of an import: clean rows merged into the directory, chunk by chunk, inside one transaction.

Rules: a row matching a directory contact by mobile or e-mail updates it (blanks filled, sectors and tags
added, never an opt-out undone); a row matching an earlier row of the same file is merged into it; a new
person whose name and organization equal an existing contact's goes to the duplicate review queue.
"""

from django.utils import timezone
from django.utils.translation import gettext as _

from .models import Contact, ContactEvent, DuplicateCandidate, ImportIssue, Tag
from .normalize import name_key

FILLABLE = ("honorific", "position", "organization", "mobile", "office_phone", "office_extension", "email", "notes")
SectorLink = Contact.sectors.through
TagLink = Contact.tags.through


class BatchWriter:
    def __init__(self, batch):
        self.batch = batch
        self.provenance = batch.provenance
        self.by_mobile: dict[str, Contact] = {}
        self.by_email: dict[str, Contact] = {}
        self.by_key: dict[str, int] = {}  # name_key -> first contact of this file with it
        self.created = self.updated = self.merged = 0
        self.touched: dict[int, Contact] = {}  # existing contacts this file changed
        self.changes: dict[int, dict] = {}
        self.tag_ids: dict[str, int] = {}

    def known_contacts(self, rows) -> None:
        """Loads the directory contacts this chunk's numbers and e-mails point to (once each)."""
        mobiles = {r.values.get("mobile") for r in rows} - {"", None} - self.by_mobile.keys()
        emails = {r.values.get("email") for r in rows} - {"", None} - self.by_email.keys()
        for field, keys, index in (("mobile", mobiles, self.by_mobile), ("email", emails, self.by_email)):
            if keys:
                for contact in Contact.objects.live().filter(**{f"{field}__in": keys}).order_by("pk"):
                    index.setdefault(getattr(contact, field), contact)

    def match(self, row) -> Contact | None:
        mobile, email = row.values.get("mobile"), row.values.get("email")
        return (mobile and self.by_mobile.get(mobile)) or (email and self.by_email.get(email)) or None

    def remember(self, contact: Contact) -> None:
        if contact.mobile:
            self.by_mobile.setdefault(contact.mobile, contact)
        if contact.email:
            self.by_email.setdefault(contact.email, contact)

    def fill(self, contact: Contact, row) -> dict:
        filled = {}
        for field in FILLABLE:
            value = row.values.get(field)
            if value and not getattr(contact, field):
                setattr(contact, field, value)
                filled[field] = value
        if row.consent and not contact.consent_basis:
            self.give_consent(contact)
            filled["consent_basis"] = contact.consent_basis
        return filled

    def give_consent(self, contact: Contact) -> None:
        contact.consent_basis = Contact.ConsentBasis.CONSENT
        contact.consent_source = self.provenance[:200]
        contact.consent_date = timezone.localdate()

    def new_contact(self, row) -> Contact:
        contact = Contact(
            **{k: v for k, v in row.values.items() if v}, provenance=self.provenance[:200], import_batch=self.batch,
            created_by=self.batch.uploaded_by,
        )
        contact.name_key = name_key(contact.name, contact.organization)
        if row.consent:
            self.give_consent(contact)
        contact.pending_sectors, contact.pending_tags = set(row.sectors), set(row.tags)
        return contact

    def write(self, rows) -> None:
        self.known_contacts(rows)
        fresh: list[Contact] = []
        links: list[tuple[Contact, set, set]] = []
        for row in rows:
            target = self.match(row)
            if target is None:
                contact = self.new_contact(row)
                fresh.append(contact)
                self.remember(contact)
                continue
            filled = self.fill(target, row)
            if target.pk is None or target.import_batch_id == self.batch.pk:
                self.merged += 1  # an earlier row of this same file
            else:
                self.updated += 1
                self.changes.setdefault(target.pk, {}).update(filled)
            if target.pk is None:
                target.pending_sectors.update(row.sectors)
                target.pending_tags.update(row.tags)
            else:
                self.touched[target.pk] = target
                links.append((target, set(row.sectors), set(row.tags)))
            self.remember(target)
        Contact.objects.bulk_create(fresh, batch_size=1000)
        self.created += len(fresh)
        links += [(c, c.pending_sectors, c.pending_tags) for c in fresh]
        self.link(links)
        self.queue_likely_duplicates(fresh)

    def tag_id(self, names: set[str]) -> dict[str, int]:
        missing = names - self.tag_ids.keys()
        if missing:
            Tag.objects.bulk_create([Tag(name=n) for n in missing], ignore_conflicts=True)
            self.tag_ids.update(Tag.objects.filter(name__in=missing).values_list("name", "pk"))
        return self.tag_ids

    def link(self, links) -> None:
        tag_ids = self.tag_id({name for _c, _s, tags in links for name in tags})
        SectorLink.objects.bulk_create(
            [SectorLink(contact_id=c.pk, sector_id=s) for c, sectors, _t in links for s in sectors],
            batch_size=2000, ignore_conflicts=True,
        )
        TagLink.objects.bulk_create(
            [TagLink(contact_id=c.pk, tag_id=tag_ids[t]) for c, _s, tags in links for t in tags],
            batch_size=2000, ignore_conflicts=True,
        )

    def queue_likely_duplicates(self, fresh: list[Contact]) -> None:
        keyed = [c for c in fresh if c.name_key]
        existing = {}
        keys = {c.name_key for c in keyed} - self.by_key.keys()
        if keys:
            rows = Contact.objects.live().filter(name_key__in=keys).exclude(import_batch=self.batch).order_by("pk")
            for pk, key in rows.values_list("pk", "name_key"):
                existing.setdefault(key, pk)
        pairs, reason = [], _("Mismo nombre y organización (%(file)s)") % {"file": self.batch.original_name[:120]}
        for contact in keyed:
            first = self.by_key.get(contact.name_key) or existing.get(contact.name_key)
            if first and first != contact.pk:
                pairs.append(DuplicateCandidate(contact_id=contact.pk, other_id=first, reason=reason))
            self.by_key.setdefault(contact.name_key, contact.pk)
        DuplicateCandidate.objects.bulk_create(pairs, ignore_conflicts=True)

    def finish(self, issues: list[ImportIssue]) -> dict:
        touched = list(self.touched.values())
        for contact in touched:
            contact.name_key = name_key(contact.name, contact.organization)
        Contact.objects.bulk_update(touched, [*FILLABLE, "name_key", "consent_basis", "consent_source", "consent_date"],
                                    batch_size=1000)
        ContactEvent.objects.bulk_create(
            [ContactEvent(contact_id=pk, kind=ContactEvent.Kind.IMPORTED, import_batch=self.batch,
                          data={"filled": sorted(fields)}) for pk, fields in self.changes.items()],
            batch_size=2000,
        )
        ImportIssue.objects.bulk_create(issues, batch_size=2000)
        rejected = sum(1 for i in issues if i.level == ImportIssue.Level.REJECTED)
        return {"created": self.created, "updated": self.updated, "merged": self.merged, "rejected": rejected,
                "doubtful": len(issues) - rejected}
