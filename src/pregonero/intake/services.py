"""Writes for intake: storing what arrived (once), and what the assistant decides about a draft.

`record_incoming` is the one door for both channels (imap.py for e-mail, whatsapp.py for WhatsApp): it stores the
message and its files in one transaction and attaches it to a draft, or returns the message already stored when
the same e-mail or WhatsApp message is seen again.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from pregonero.accounts.models import Department
from pregonero.directory.normalize import normalize_phone

from .models import Draft, IncomingAttachment, IncomingMessage, KnownSender, Source

# A WhatsApp message from the same sender within this time extends their open draft instead of starting one.
WHATSAPP_DRAFT_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class IncomingFile:
    name: str  # the sender's file name, already cleaned (campaigns.uploads.clean_filename)
    content_type: str
    content: bytes
    kind: str = ""  # campaigns.models.AttachmentKind value when recognised


@dataclass
class Incoming:
    """A message as a channel read it, before it is stored."""

    source: str
    external_id: str
    sender_address: str  # e-mail (any case) or a phone number / WhatsApp id
    sender_name: str = ""
    subject: str = ""
    body: str = ""
    sent_at: datetime | None = None
    raw: bytes | None = None  # the whole e-mail as fetched
    files: list[IncomingFile] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    # Not a request (auto-reply, newsletter…): the draft is kept aside with this reason.
    aside_reason: str = ""
    # External ids this message answers (an e-mail's In-Reply-To and References): it joins that message's draft.
    replies_to: tuple[str, ...] = ()


def normalized_address(source: str, address: str) -> str:
    address = (address or "").strip()
    if source == Source.EMAIL:
        return address.lower()
    phone = normalize_phone(address if address.startswith("+") else f"+{address}")
    return phone.e164 or address


def match_department(source: str, address: str) -> Department | None:
    """The department a sender writes for: a known sender, the department's own address, or (e-mail) one of its
    users. None when nobody matches or the address belongs to more than one department."""
    address = normalized_address(source, address)
    if not address:
        return None
    known = {k.department_id for k in KnownSender.objects.filter(source=source, address=address)}
    if source == Source.EMAIL:
        known |= set(Department.objects.filter(email__iexact=address).values_list("pk", flat=True))
        known |= set(
            get_user_model().objects.filter(email__iexact=address, is_active=True, department__isnull=False)
            .values_list("department_id", flat=True)
        )
    else:
        known |= {
            pk for pk, number in Department.objects.exclude(whatsapp="").values_list("pk", "whatsapp")
            if normalized_address(source, number) == address
        }
    return Department.objects.get(pk=known.pop()) if len(known) == 1 else None


def _draft_for(incoming: Incoming, address: str, department: Department | None) -> Draft:
    if incoming.replies_to:
        earlier = (IncomingMessage.objects.select_related("draft")
                   .filter(source=incoming.source, external_id__in=incoming.replies_to).order_by("-pk").first())
        if earlier is not None:
            draft = earlier.draft
            while draft.merged_into_id:
                draft = draft.merged_into
            if draft.status == Draft.Status.OPEN:
                return draft
    if incoming.source == Source.WHATSAPP and not incoming.aside_reason:
        recent = (Draft.objects.select_for_update()
                  .filter(source=Source.WHATSAPP, sender_address=address, status=Draft.Status.OPEN,
                          received_at__gte=timezone.now() - WHATSAPP_DRAFT_WINDOW)
                  .order_by("-received_at").first())
        if recent is not None:
            return recent
    return Draft.objects.create(
        source=incoming.source, department=department, sender_address=address,
        sender_name=incoming.sender_name[:200], subject=incoming.subject[:300],
        status=Draft.Status.ASIDE if incoming.aside_reason else Draft.Status.OPEN,
        aside_reason=incoming.aside_reason[:200],
    )


def record_incoming(incoming: Incoming) -> tuple[IncomingMessage, bool]:
    """Stores a message once; returns (message, created). Seeing the same message again returns the first."""
    existing = IncomingMessage.objects.filter(source=incoming.source, external_id=incoming.external_id).first()
    if existing is not None:
        return existing, False
    address = normalized_address(incoming.source, incoming.sender_address)
    try:
        with transaction.atomic():
            draft = _draft_for(incoming, address, match_department(incoming.source, address))
            message = IncomingMessage(
                draft=draft, source=incoming.source, external_id=incoming.external_id[:300],
                sender_address=address, sender_name=incoming.sender_name[:200], subject=incoming.subject[:300],
                body=incoming.body, sent_at=incoming.sent_at, problems=list(incoming.problems),
            )
            if incoming.raw is not None:
                message.raw.save("mensaje.eml", ContentFile(incoming.raw), save=False)
            message.save()
            for item in incoming.files:
                attachment = IncomingAttachment(
                    message=message, kind=item.kind, original_name=item.name[:255],
                    content_type=item.content_type[:100], size=len(item.content),
                )
                attachment.file.save(item.name, ContentFile(item.content), save=False)
                attachment.save()
    except IntegrityError:
        existing = IncomingMessage.objects.filter(source=incoming.source, external_id=incoming.external_id).first()
        if existing is None:
            raise
        return existing, False
    return message, True
