"""The audit log's hash chain: tamper-evident, append-only.

Each entry stores ``prev_hash`` (the hash of the entry before it, GENESIS for the first) and ``entry_hash``,
the sha256 of a canonical JSON of its own content and ``prev_hash``. Changing, removing or slipping in an entry
breaks the chain from that point on; ``chain_verify`` recomputes it in insertion (pk) order and says where.

Appends are serialised on the chain head row (SELECT … FOR UPDATE on PostgreSQL; SQLite opens every
transaction with the write lock already), held to the end of the appending transaction: the next append waits
and links to the committed entry, never to the same predecessor. The unique ``prev_hash`` is the safety net.
"""

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC

from django.db import transaction

from .models import AuditChainHead, AuditEntry

GENESIS = "0" * 64
HEAD_PK = 1


def entry_digest(entry, prev_hash: str) -> str:
    """sha256 (hex) of the entry's content as the database gives it back (``entry`` may be a migration's
    historical model: only field values are read)."""
    content = {
        "prev_hash": prev_hash,
        "campaign_id": entry.campaign_id,
        "actor_id": entry.actor_id,
        "at": entry.at.astimezone(UTC).isoformat(timespec="microseconds"),
        "action": entry.action,
        "from_state": entry.from_state,
        "to_state": entry.to_state,
        "comment": entry.comment,
        # Through JSON once, as the JSONField stores it: tuples become lists, number keys strings.
        "data": json.loads(json.dumps(entry.data)),
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def chain_insert(entry: AuditEntry, insert: Callable[[], None]) -> None:
    """Links a new entry to the chain's last one and inserts it (``insert``), in one transaction."""
    with transaction.atomic():
        head, _created = AuditChainHead.objects.select_for_update().get_or_create(
            pk=HEAD_PK, defaults={"entry_hash": last_hash})
        entry.prev_hash = head.entry_hash
        entry.entry_hash = entry_digest(entry, head.entry_hash)
        insert()
        head.entry_id, head.entry_hash = entry.pk, entry.entry_hash
        head.save(update_fields=["entry_id", "entry_hash"])


def last_hash() -> str:
    """The last entry's hash; only read when the head row is missing (a database emptied by a test flush)."""
    return AuditEntry.objects.order_by("-pk").values_list("entry_hash", flat=True).first() or GENESIS


@dataclass(frozen=True)
class ChainCheck:
    count: int  # entries intact, in order, before the one that breaks
    broken: AuditEntry | None = None  # the first entry that does not check out
    reason: str = ""  # "content", "link" or "tail"

    @property
    def ok(self) -> bool:
        return not self.reason


def chain_verify() -> ChainCheck:
    """Recomputes the whole chain. ``content``: the entry does not match its own hash (it was edited);
    ``link``: it does not follow the entry before it (one was removed, inserted, or edited with a new hash);
    ``tail``: entries are missing after the last one (the head remembers a later link)."""
    previous, count, last = GENESIS, 0, None
    for entry in AuditEntry.objects.order_by("pk").iterator(chunk_size=2000):
        if entry.prev_hash != previous:
            return ChainCheck(count, entry, "link")
        if entry_digest(entry, previous) != entry.entry_hash:
            return ChainCheck(count, entry, "content")
        previous, count, last = entry.entry_hash, count + 1, entry
    head = AuditChainHead.objects.filter(pk=HEAD_PK).first()
    if head is not None and head.entry_hash != previous:
        return ChainCheck(max(count - 1, 0), last, "tail")  # last is None: every entry was removed
    return ChainCheck(count)
