"""Phase two of an import: clean rows merged into the directory, chunk by chunk, inside one transaction.

Rules: a row matching a directory contact by mobile or e-mail updates it (blanks filled, sectors and tags
added, never an opt-out undone); a row matching an earlier row of the same file is merged into it; a new
person whose name and organization equal an existing contact's goes to the duplicate review queue.

Memory stays flat at a million rows: across chunks only two dicts of keys to ids are kept (who is known by
number, e-mail or office line, and by name key, in the directory and in what this file added); each chunk's people are written and forgotten.
New people go in with plain-SQL bulk inserts (bulk.py): at a million rows the ORM's per-object cost would
dominate the import.
"""

from dataclasses import dataclass

from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from . import bulk
from .models import Contact, ContactEvent, DuplicateCandidate, ImportIssue, Tag
from .services import tacit_consent_source

FILLABLE = ("honorific", "position", "organization", "mobile", "office_phone", "office_extension", "email", "notes")
SectorLink = Contact.sectors.through
TagLink = Contact.tags.through
CONTACT_COLUMNS = [f.attname for f in Contact._meta.concrete_fields]


@dataclass(slots=True)
class Fresh:
    """A person this chunk adds to the directory."""

    values: dict
    sectors: set
    tags: set
    consent: bool
    pk: int | None = None


class BatchWriter:
    def __init__(self, batch):
        self.batch = batch
        self.provenance = batch.provenance[:200]
        self.created = self.updated = self.merged = 0
        self.tag_ids: dict[str, int] = {}
        now = timezone.now()
        self.defaults = {f.attname: f.get_default() for f in Contact._meta.concrete_fields}
        self.defaults.update(
            provenance=self.provenance, import_batch_id=batch.pk, created_by_id=batch.uploaded_by_id,
            created_at=bulk.adapt_datetime(now), updated_at=bulk.adapt_datetime(now),
        )
        self.consent = {"consent_basis": Contact.ConsentBasis.CONSENT.value, "consent_source": self.provenance,
                        "consent_date": timezone.localdate()}
        self.tacit_source = tacit_consent_source(self.provenance)
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:  # the directory's indexes stay in memory while it grows
                cursor.execute("PRAGMA cache_size = -262144")
        self.load_directory_keys()

    def load_directory_keys(self) -> None:
        """Indexes who the directory already holds, once: a dict lookup per row afterwards instead of a
        query per chunk (narrow scans, even at a million contacts). A person is known by their mobile, their
        e-mail, or, with neither, their office line together with their name (a switchboard is shared)."""
        live = Contact.objects.live().order_by("-pk")  # the oldest contact wins a key held twice
        self.known = {f"m:{m}": pk for m, pk in live.exclude(mobile="").values_list("mobile", "pk")}
        self.known.update((f"e:{e}", pk) for e, pk in live.exclude(email="").values_list("email", "pk"))
        self.known.update(
            (f"o:{o}|{k}", pk)
            for o, k, pk in live.filter(mobile="", email="").exclude(office_phone="").values_list(
                "office_phone", "name_key", "pk")
        )
        self.known_key = dict(live.exclude(name_key="").values_list("name_key", "pk"))

    @staticmethod
    def identities(values: dict) -> list[str]:
        keys = [f"m:{values['mobile']}"] if values.get("mobile") else []
        if values.get("email"):
            keys.append(f"e:{values['email']}")
        if not keys and values.get("office_phone"):
            keys.append(f"o:{values['office_phone']}|{values.get('name_key', '')}")
        return keys

    @staticmethod
    def first_match(keys: list[str], index: dict):
        for key in keys:
            found = index.get(key)
            if found is not None:
                return found
        return None

    def load_matches(self, rows) -> dict[int, Contact]:
        """The contacts (of the directory, or written by an earlier chunk of this file) that rows point to."""
        wanted = {pk for row in rows if (pk := self.first_match(self.identities(row.values), self.known))}
        return Contact.objects.in_bulk(wanted) if wanted else {}

    def write(self, rows) -> None:
        existing = self.load_matches(rows)
        in_chunk: dict[str, Fresh | Contact] = {}
        fresh_rows: list[Fresh] = []
        touched: dict[int, Contact] = {}
        links: list[tuple[int, set, set]] = []
        for row in rows:
            keys = self.identities(row.values)
            target = self.first_match(keys, in_chunk)
            if target is None:
                target = existing.get(self.first_match(keys, self.known))
            if target is None:
                target = Fresh(dict(row.values), set(row.sectors), set(row.tags), row.consent)
                fresh_rows.append(target)
            elif isinstance(target, Fresh):
                self.merged += 1
                self.merge_into_fresh(target, row)
            else:
                self.update_contact(target, row)
                touched[target.pk] = target
                links.append((target.pk, set(row.sectors), set(row.tags)))
            for key in keys:
                in_chunk.setdefault(key, target)
        self.insert(fresh_rows)
        self.save_updates(touched)
        self.link(links + [(f.pk, f.sectors, f.tags) for f in fresh_rows], touched.keys())
        self.queue_likely_duplicates(fresh_rows)

    @staticmethod
    def merge_into_fresh(fresh: Fresh, row) -> None:
        for name in FILLABLE:
            if row.values.get(name) and not fresh.values.get(name):
                fresh.values[name] = row.values[name]
        fresh.sectors.update(row.sectors)
        fresh.tags.update(row.tags)
        fresh.consent |= row.consent

    def update_contact(self, contact: Contact, row) -> None:
        filled = {}
        for name in FILLABLE:
            value = row.values.get(name)
            if value and not getattr(contact, name):
                setattr(contact, name, value)
                filled[name] = value
        if row.consent and not contact.consent_basis:
            for name, value in self.consent.items():
                setattr(contact, name, value)
            filled["consent_basis"] = contact.consent_basis
        if contact.import_batch_id == self.batch.pk:
            self.merged += 1  # a repeat of a person an earlier chunk of this file added
        else:
            self.updated += 1
            contact.import_changes = {**getattr(contact, "import_changes", {}), **filled}

    def insert(self, fresh_rows: list[Fresh]) -> None:
        ids = bulk.reserve_ids(Contact, len(fresh_rows))
        tuples = []
        for fresh, pk in zip(fresh_rows, ids, strict=True):
            fresh.pk = pk
            values = self.defaults | fresh.values
            values["id"] = pk
            # A "yes" in a consent column is the person's consent; without it the consent is tacit.
            values.update(consent_basis=self.consent["consent_basis"],
                          consent_source=self.provenance if fresh.consent else self.tacit_source,
                          consent_date=bulk.adapt_date(self.consent["consent_date"]))
            tuples.append(tuple(values[c] for c in CONTACT_COLUMNS))
            for key in self.identities(values):
                self.known.setdefault(key, pk)
        bulk.insert_rows(Contact._meta.db_table, CONTACT_COLUMNS, tuples)
        self.created += len(fresh_rows)

    def save_updates(self, touched: dict[int, Contact]) -> None:
        if not touched:
            return
        Contact.objects.bulk_update(
            touched.values(), [*FILLABLE, "consent_basis", "consent_source", "consent_date"], batch_size=1000
        )
        ContactEvent.objects.bulk_create(
            [ContactEvent(contact_id=c.pk, kind=ContactEvent.Kind.IMPORTED, import_batch=self.batch,
                          data={"filled": sorted(c.import_changes)})
             for c in touched.values() if hasattr(c, "import_changes")],
            batch_size=2000,
        )

    def tag_id(self, names: set[str]) -> dict[str, int]:
        missing = names - self.tag_ids.keys()
        if missing:
            Tag.objects.bulk_create([Tag(name=n) for n in missing], ignore_conflicts=True)
            self.tag_ids.update(Tag.objects.filter(name__in=missing).values_list("name", "pk"))
        return self.tag_ids

    def link(self, links, existing) -> None:
        """Sector and tag links; a link that already exists (a re-imported person) is skipped."""
        tag_ids = self.tag_id({name for _pk, _s, tags in links for name in tags})
        sector_rows = {(pk, s) for pk, sectors, _t in links for s in sectors}
        tag_rows = {(pk, tag_ids[t]) for pk, _s, tags in links for t in tags}
        if existing:
            sector_rows -= set(SectorLink.objects.filter(contact_id__in=existing).values_list("contact_id", "sector_id"))
            tag_rows -= set(TagLink.objects.filter(contact_id__in=existing).values_list("contact_id", "tag_id"))
        bulk.insert_rows(SectorLink._meta.db_table, ["contact_id", "sector_id"], sorted(sector_rows))
        bulk.insert_rows(TagLink._meta.db_table, ["contact_id", "tag_id"], sorted(tag_rows))

    def queue_likely_duplicates(self, fresh_rows: list[Fresh]) -> None:
        pairs, reason = [], _("Mismo nombre y organización (%(file)s)") % {"file": self.batch.original_name[:120]}
        for fresh in fresh_rows:
            key = fresh.values.get("name_key")
            if not key:
                continue
            first = self.known_key.setdefault(key, fresh.pk)
            if first != fresh.pk:
                pairs.append(DuplicateCandidate(contact_id=fresh.pk, other_id=first, reason=reason))
        DuplicateCandidate.objects.bulk_create(pairs, ignore_conflicts=True)

    def finish(self, issues: list[ImportIssue]) -> dict:
        ImportIssue.objects.bulk_create(issues, batch_size=2000)
        rejected = sum(1 for i in issues if i.level == ImportIssue.Level.REJECTED)
        return {"created": self.created, "updated": self.updated, "merged": self.merged, "rejected": rejected,
                "doubtful": len(issues) - rejected}
