"""Reads of intake for other pages (the assistant's Bandeja)."""

from dataclasses import dataclass, field

from django.db.models import Count, OuterRef, Subquery

from .models import Draft, IncomingMessage


def with_first_text(drafts):
    """Each draft with ``first_text``, the text of its first message: what a WhatsApp draft (no subject) shows
    in a list instead of "(sin asunto)"."""
    first = IncomingMessage.objects.filter(draft=OuterRef("pk")).exclude(body="").order_by("pk").values("body")[:1]
    return drafts.annotate(first_text=Subquery(first))


@dataclass
class DraftsWaiting:
    count: int = 0
    oldest: list[Draft] = field(default_factory=list)


def drafts_waiting(limit: int = 5) -> DraftsWaiting:
    """The drafts the assistant has to register: how many, and the ones waiting longest (with their sender,
    department and message count)."""
    waiting = Draft.objects.filter(status=Draft.Status.OPEN)
    count = waiting.count()
    if not count:
        return DraftsWaiting()
    oldest = list(with_first_text(waiting.select_related("department", "follows_up"))
                  .annotate(message_count=Count("messages")).order_by("received_at", "pk")[:limit])
    return DraftsWaiting(count=count, oldest=oldest)
