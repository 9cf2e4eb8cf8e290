"""Writes for intake: storing what arrived (once), and what the assistant decides about a draft.

`record_incoming` is the one door for both channels (imap.py for e-mail, whatsapp.py for WhatsApp): it stores the
message and its files in one transaction and attaches it to a draft, or returns the message already stored when
the same e-mail or WhatsApp message is seen again.

The assistant's decisions (views.py, "Recibidas"): `draft_register` (the request, its chosen files checked like
uploads, optionally turned to the Director, the requester told after commit by acknowledgements.py),
`draft_merge`, `draft_discard` (with its reason in the audit log) and `draft_restore` (a draft set aside is a
request after all).
"""

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _, ngettext

from pregonero.accounts.models import Department
from pregonero.accounts.roles import Role
from pregonero.campaigns.models import AttachmentKind, AuditEntry, Campaign, Channel
from pregonero.campaigns.notifications import notify
from pregonero.campaigns.services import NewAttachment, audit_log, campaign_create, campaign_transition
from pregonero.campaigns.uploads import SPREADSHEET_TYPES, extension_of, validate_upload
from pregonero.campaigns.workflow import waiting_roles
from pregonero.directory.normalize import normalize_phone
from pregonero.filestore import files_removed_on_failure

from .models import Draft, IncomingAttachment, IncomingMessage, KnownSender, Source

log = logging.getLogger(__name__)

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
    # As written in Mexico ("998 111 2233", a 521… WhatsApp id) first, then as an international id without "+".
    phone = normalize_phone(address)
    if not phone.e164 and not address.startswith("+"):
        phone = normalize_phone(f"+{address}")
    return phone.e164 or address


def match_department(source: str, address: str) -> Department | None:
    """The department a sender writes for: a known sender (an explicit choice, so it wins), else the department's
    own address or (e-mail) one of its users. None when nobody matches or the address belongs to more than one
    department."""
    address = normalized_address(source, address)
    if not address:
        return None
    remembered = KnownSender.objects.filter(source=source, address=address).select_related("department").first()
    if remembered is not None:
        return remembered.department
    known = set()
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


FOLIO = re.compile(r"\bRP-\d{4}-\d{4,}\b", re.IGNORECASE)


def _current(draft: Draft) -> Draft:
    """The draft that holds a draft's messages now (after merges), locked: its status cannot change under us."""
    while draft.merged_into_id:
        draft = draft.merged_into
    return (Draft.objects.select_for_update(of=("self",)).select_related("campaign", "merged_into__campaign")
            .get(pk=draft.pk))


def registered_campaign(draft: Draft) -> Campaign | None:
    """The request a registered draft became (a draft merged into a registered one has it through that one)."""
    if draft.status != Draft.Status.REGISTERED:
        return None
    holder = draft.merged_into if draft.merged_into_id else draft
    # A follow-up added to its request keeps `campaign` empty (one draft per request) and names it in follows_up.
    return draft.campaign or holder.campaign or holder.follows_up


def cited_campaign(*texts: str) -> Campaign | None:
    """The request a message names by its folio ("Cite el folio", the acknowledgement asks)."""
    folios = list(dict.fromkeys(f.upper() for text in texts for f in FOLIO.findall(text or "")))[:10]
    found = {c.folio: c for c in Campaign.objects.filter(folio__in=folios)}
    return next((found[f] for f in folios if f in found), None)


def _draft_for(incoming: Incoming, address: str, department: Department | None) -> Draft:
    """The open draft the message extends, or a new one. A reply to a request registered already starts a new
    draft that points at that request, so the answer is seen, never buried in a decided draft."""
    follows = None
    not_aside = not incoming.aside_reason  # an auto-reply in a thread must not add its text to the request
    if incoming.replies_to and not_aside:
        earlier = (IncomingMessage.objects.select_related("draft")
                   .filter(source=incoming.source, external_id__in=incoming.replies_to).order_by("-pk").first())
        if earlier is not None:
            draft = _current(earlier.draft)
            if draft.status == Draft.Status.OPEN:
                return draft
            follows = registered_campaign(draft)
    just_registered = None
    if incoming.source == Source.WHATSAPP and not_aside:
        # Their open draft, even when the assistant merged it into a draft that came by e-mail; when their last
        # message was registered meanwhile, the new draft points at that request (a photo sent a bit late).
        latest = (IncomingMessage.objects.select_related("draft")
                  .filter(source=Source.WHATSAPP, sender_address=address,
                          draft__status__in=(Draft.Status.OPEN, Draft.Status.REGISTERED),
                          received_at__gte=timezone.now() - WHATSAPP_DRAFT_WINDOW)
                  .order_by("-received_at", "-pk").first())
        if latest is not None:
            draft = _current(latest.draft)
            if draft.status == Draft.Status.OPEN:
                return draft
            just_registered = registered_campaign(draft)
    follows = follows or cited_campaign(incoming.subject, incoming.body) or just_registered
    return Draft.objects.create(
        source=incoming.source, department=department or (follows.department if follows else None),
        sender_address=address, sender_name=incoming.sender_name[:200], subject=incoming.subject[:300],
        status=Draft.Status.ASIDE if incoming.aside_reason else Draft.Status.OPEN,
        aside_reason=incoming.aside_reason[:200], follows_up=follows,
    )


def record_incoming(incoming: Incoming) -> tuple[IncomingMessage, bool]:
    """Stores a message once; returns (message, created). Seeing the same message again returns the first.
    Files written before a failure are deleted with the rolled-back rows, so a failure leaves nothing behind."""
    external_id = incoming.external_id[:300]  # as stored: a longer id must still find its message
    existing = IncomingMessage.objects.filter(source=incoming.source, external_id=external_id).first()
    if existing is not None:
        return existing, False
    address = normalized_address(incoming.source, incoming.sender_address)
    try:
        with files_removed_on_failure() as save_file, transaction.atomic():
            one_sender_at_a_time(incoming.source, address)
            draft = _draft_for(incoming, address, match_department(incoming.source, address))
            message = IncomingMessage(
                draft=draft, source=incoming.source, external_id=external_id,
                sender_address=address, sender_name=incoming.sender_name[:200], subject=incoming.subject[:300],
                body=incoming.body, sent_at=incoming.sent_at, problems=list(incoming.problems),
            )
            if incoming.raw is not None:
                save_file(message.raw, "mensaje.eml", incoming.raw)
            message.save()
            for item in incoming.files:
                attachment = IncomingAttachment(
                    message=message, kind=item.kind, original_name=item.name[:255],
                    content_type=item.content_type[:100], size=len(item.content),
                )
                save_file(attachment.file, item.name, item.content)
                attachment.save()
    except IntegrityError:  # stored at the same moment by another worker
        existing = IncomingMessage.objects.filter(source=incoming.source, external_id=external_id).first()
        if existing is None:
            raise
        return existing, False
    return message, True


# The key space of the sender locks below (PostgreSQL advisory locks with two keys: this one and the address's
# hash; the webhook events' single-key locks live in a space of their own).
SENDER_LOCK_SPACE = 0x5052  # "PR"


def one_sender_at_a_time(source: str, address: str) -> None:
    """Holds, until the transaction ends, the lock of one sender's messages: a department that sends its request
    as a text and a photo a second apart has two webhooks applied at the same moment by two workers, and without
    it both would find no open draft and start one each. SQLite needs none: its transactions begin IMMEDIATE,
    one writer at a time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", [SENDER_LOCK_SPACE, f"{source}:{address}"])


# --------------------------------------------------------------------------- the assistant's decisions
#
# Every decision locks the draft row first (select_for_update), so of two clicks at once exactly one decides and
# the other gets DraftConflict with a clear message. A final decision on a draft covers the drafts merged into it.

FAMILY_OF_KIND = {  # which upload check (campaigns.uploads) a carried file must pass, by the kind chosen for it
    AttachmentKind.SCAN: "document",
    AttachmentKind.INVITATION_IMAGE: "image",
    AttachmentKind.GUEST_LIST: "spreadsheet",
}
EXTENSION_OF_TYPE = {"image/jpeg": "jpg", "image/png": "png", "application/pdf": "pdf"} | {
    content_type: ext for ext, content_type in SPREADSHEET_TYPES.items()
}


class DraftConflict(ValidationError):
    """The draft was decided before this action arrived (someone else acted first, or a double click): the action
    is no longer valid, and the message says what happened instead."""

    def __init__(self, draft: Draft):
        self.draft = draft
        super().__init__(conflict_message(draft), code="conflict")


def conflict_message(draft: Draft) -> str:
    if draft.status == Draft.Status.REGISTERED:
        campaign = draft.campaign or (draft.merged_into.campaign if draft.merged_into_id else None)
        if campaign is None and draft.follows_up_id:
            return _("Estos mensajes ya se agregaron a la solicitud %(folio)s.") % {"folio": draft.follows_up.folio}
        if campaign is not None:
            return _("Esta solicitud ya se registró con el folio %(folio)s.") % {"folio": campaign.folio}
    if draft.status == Draft.Status.MERGED:
        return _("Estos mensajes ya se unieron a otra solicitud por registrar (n.º %(pk)s).") % {
            "pk": draft.merged_into_id}
    if draft.status == Draft.Status.ASIDE:
        return _("Esta solicitud está apartada; primero márquela como solicitud.")
    return _("La solicitud por registrar ya está en «%(status)s»; alguien más actuó antes. Revise la información "
             "actual.") % {"status": draft.get_status_display()}


def may_decide(user) -> bool:
    """Only the assistant registers, merges and discards what arrived (the Director may look, read-only)."""
    return user.is_authenticated and user.has_role(Role.ASSISTANT)


def may_view_intake(user) -> bool:
    return may_decide(user) or (user.is_authenticated and user.has_role(Role.DIRECTOR))


def _require_assistant(actor) -> None:
    if not may_decide(actor):
        raise PermissionDenied(_("Solo la asistente registra, une o descarta las solicitudes recibidas."))


def _locked(draft: Draft, *, allowed) -> Draft:
    locked = Draft.objects.select_for_update().get(pk=draft.pk)
    if locked.status not in allowed:
        raise DraftConflict(locked)
    return locked


def _decide(draft: Draft, status: str, actor, now, **changes) -> None:
    """Gives the draft and the drafts merged into it their final status."""
    values = {"status": status, "decided_by": actor, "decided_at": now, **changes}
    Draft.objects.filter(merged_into=draft).update(**{k: v for k, v in values.items() if k != "campaign"})
    for name, value in values.items():
        setattr(draft, name, value)
    draft.save(update_fields=list(values))


def name_with_extension(name: str, content_type: str) -> str:
    """A file sent without an extension (common on WhatsApp) gets the one its content type says."""
    ext = EXTENSION_OF_TYPE.get(content_type.split(";")[0].strip().lower())
    if ext and extension_of(name) not in (ext, "jpeg" if ext == "jpg" else ext):
        return f"{name}.{ext}"
    return name


def _carried_attachments(draft: Draft, choices) -> list[NewAttachment]:
    """The chosen files of the draft as checked uploads; every refusal is collected before anything is written."""
    wanted = [(int(pk), kind) for pk, kind in choices]
    found = {a.pk: a for a in IncomingAttachment.objects.filter(message__draft=draft, pk__in=[pk for pk, _k in wanted])}
    carried, errors = [], []
    for pk, kind in wanted:
        attachment = found.get(pk)
        if attachment is None or kind not in FAMILY_OF_KIND:
            errors.append(_("Uno de los archivos elegidos ya no es de esta solicitud; recargue la página."))
            continue
        with attachment.file.open("rb") as handle:
            content = handle.read()
        upload = SimpleUploadedFile(name_with_extension(attachment.original_name, attachment.content_type), content,
                                    content_type=attachment.content_type)
        try:
            accepted = validate_upload(upload, FAMILY_OF_KIND[kind])
        except ValidationError as error:
            errors += [_("%(kind)s: %(error)s") % {"kind": AttachmentKind(kind).label, "error": message}
                       for message in error.messages]
        else:
            carried.append(NewAttachment(kind=kind, upload=upload, accepted=accepted))
    if errors:
        raise ValidationError(errors)
    return carried


def draft_contents(draft: Draft) -> set[str]:
    """What the draft holds now, as tokens ("m12" a message, "a40" a file): the page sends back what it showed,
    so a message or file that arrived meanwhile (a reply, a merge, a WhatsApp download) is never registered
    unseen."""
    messages = IncomingMessage.objects.filter(draft=draft)
    files = IncomingAttachment.objects.filter(message__draft=draft)
    return {f"m{pk}" for pk in messages.values_list("pk", flat=True)} | {
        f"a{pk}" for pk in files.values_list("pk", flat=True)}


def _require_seen(draft: Draft, seen, then: str) -> None:
    if seen is not None and draft_contents(draft) - set(seen):
        raise ValidationError(_("Mientras revisaba llegó algo más a esta solicitud (un mensaje, un archivo o una "
                                "solicitud unida); está en la página.") + " " + then, code="unseen")


def draft_register(*, draft: Draft, actor, fields: dict, sectors=(), attachment_choices=(), submission_key,
                   uploads=(), turn: bool = True, seen=None, remember_sender: bool = False) -> tuple[Campaign, bool]:
    """Registers the draft as a request (received by its channel) and, with ``turn``, turns it to the Director,
    all in one transaction; the requester is told after commit. Returns (campaign, created): the same form
    submitted twice finds the first request. ``attachment_choices``: (incoming attachment pk, AttachmentKind).
    ``seen``: the draft_contents tokens the assistant's page showed; anything newer refuses the registration.
    ``remember_sender``: the sender becomes a known sender of the request's department (same transaction)."""
    _require_assistant(actor)
    registered = Draft.objects.filter(pk=draft.pk, campaign__submission_key=submission_key).select_related("campaign")
    if registered:
        return registered[0].campaign, False
    carried = _carried_attachments(draft, attachment_choices)
    with files_removed_on_failure(), transaction.atomic():
        locked = Draft.objects.select_for_update().get(pk=draft.pk)
        if locked.campaign_id and locked.campaign.submission_key == submission_key:
            return locked.campaign, False
        if locked.status != Draft.Status.OPEN:
            raise DraftConflict(locked)
        _require_seen(locked, seen, _("Revíselo y vuelva a registrar."))
        campaign, created = campaign_create(
            actor=actor, fields={**fields, "received_via": Channel(locked.source)}, sectors=sectors,
            attachments=[*carried, *uploads], submission_key=submission_key,
        )
        if not created:  # the key belongs to another request: a stale form, never a second registration
            raise ValidationError(_("Este formulario ya se usó para otra solicitud; recargue la página."))
        merged = list(locked.merged_drafts.values_list("pk", flat=True))
        _decide(locked, Draft.Status.REGISTERED, actor, timezone.now(), campaign=campaign,
                department=campaign.department)
        audit_log(campaign=campaign, actor=actor, action="intake.register", data={
            "draft": locked.pk, "merged": merged, "source": locked.source,
            "attachments": [{"name": a.upload.name, "kind": a.kind} for a in carried],
        })
        if remember_sender:
            _remember_sender(locked, campaign.department, actor=actor, campaign=campaign)
        if turn:
            campaign_transition(campaign=campaign, actor=actor, name="turn")
        from .acknowledgements import acknowledgement_enqueue

        acknowledgement_enqueue(locked.pk)
    draft.status, draft.campaign = locked.status, campaign
    return campaign, True


def draft_merge(*, drafts, into: Draft, actor) -> Draft:
    """Several messages about one event become one draft: the others' messages (and files) move to ``into``;
    the others stay, marked merged into it, so a later reply to them still finds it."""
    _require_assistant(actor)
    others = sorted({d.pk for d in drafts} - {into.pk})
    if not others:
        raise ValidationError(_("Elija al menos otra solicitud por registrar para unirla a esta."))
    with transaction.atomic():
        locked = {d.pk: d for d in Draft.objects.select_for_update().filter(pk__in=[into.pk, *others]).order_by("pk")}
        target = locked[into.pk]
        if target.status != Draft.Status.OPEN:
            raise DraftConflict(target)
        now = timezone.now()
        for pk in others:
            draft = locked.get(pk)
            if draft is None or draft.status not in (Draft.Status.OPEN, Draft.Status.ASIDE):
                raise DraftConflict(draft or target)
            messages = list(draft.messages.values_list("pk", flat=True))
            IncomingMessage.objects.filter(draft=draft).update(draft=target)
            Draft.objects.filter(merged_into=draft).update(merged_into=target)  # one hop, always
            draft.status, draft.merged_into, draft.decided_by, draft.decided_at = Draft.Status.MERGED, target, actor, now
            draft.save(update_fields=["status", "merged_into", "decided_by", "decided_at"])
            audit_log(campaign=None, actor=actor, action="intake.merge",
                      data={"draft": draft.pk, "into": target.pk, "messages": messages})
            target.department_id = target.department_id or draft.department_id
            target.follows_up_id = target.follows_up_id or draft.follows_up_id
            target.subject = target.subject or draft.subject
            target.received_at = min(target.received_at, draft.received_at)
        target.save(update_fields=["department", "follows_up", "subject", "received_at"])
    return target


def draft_discard(*, draft: Draft, actor, reason: str, seen=None) -> Draft:
    """Not a request: kept, with the reason in the audit log (no campaign to hang it on). ``seen``: as for
    draft_register, so a late reply is never discarded unread."""
    _require_assistant(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(_("Escriba el motivo del descarte: queda en el registro."))
    with transaction.atomic():
        locked = _locked(draft, allowed=(Draft.Status.OPEN, Draft.Status.ASIDE))
        _require_seen(locked, seen, _("Revíselo antes de descartarla."))
        merged = list(locked.merged_drafts.values_list("pk", flat=True))
        _decide(locked, Draft.Status.DISCARDED, actor, timezone.now(), discard_reason=reason)
        audit_log(campaign=None, actor=actor, action="intake.discard", comment=reason,
                  data={"draft": locked.pk, "merged": merged, "source": locked.source, "subject": locked.subject})
    return locked


def draft_restore(*, draft: Draft, actor) -> Draft:
    """"Sí es una solicitud": a draft kept aside (auto-reply, newsletter…) goes back to the drafts to register."""
    _require_assistant(actor)
    with transaction.atomic():
        locked = _locked(draft, allowed=(Draft.Status.ASIDE,))
        audit_log(campaign=None, actor=actor, action="intake.restore",
                  data={"draft": locked.pk, "aside_reason": locked.aside_reason})
        # A request after all: its sender is acknowledged like any other, also when merged into another draft.
        locked.status, locked.aside_reason = Draft.Status.OPEN, ""
        locked.save(update_fields=["status", "aside_reason"])
    return locked


# --------------------------------------------------------------------------- remembering a sender


@dataclass(frozen=True)
class SenderStatus:
    """What the registration form says about the draft's sender: ``offer`` the "remember" checkbox, or the
    department that already knows the address (``known_for``)."""

    offer: bool
    known_for: Department | None = None


def sender_status(draft: Draft) -> SenderStatus:
    if not draft.sender_address:
        return SenderStatus(offer=False)
    known = (KnownSender.objects.filter(source=draft.source, address=normalized_address(draft.source,
                                                                                       draft.sender_address))
             .select_related("department").first())
    if known is not None:
        return SenderStatus(offer=False, known_for=known.department)
    return SenderStatus(offer=True)


def _remember_sender(draft: Draft, department: Department, *, actor, campaign: Campaign) -> KnownSender | None:
    """A known sender for the department, inside the caller's transaction. Nothing to do when the address
    already leads there (the department's own address, one of its users); refused when it is another
    department's known sender (someone registered it meanwhile)."""
    address = normalized_address(draft.source, draft.sender_address)
    if not address or match_department(draft.source, address) == department:
        return None
    known = KnownSender.objects.filter(source=draft.source, address=address).select_related("department").first()
    if known is not None:
        raise ValidationError(_("Este remitente ya es remitente conocido de %(department)s; no se recordó para "
                                "otra dirección. Cámbielo en Administración si hace falta.")
                              % {"department": known.department})
    try:
        with transaction.atomic():
            sender = KnownSender.objects.create(department=department, source=draft.source, address=address,
                                                name=draft.sender_name[:200])
    except IntegrityError:
        raise ValidationError(_("Alguien más registró este remitente al mismo tiempo; revise la página.")) from None
    audit_log(campaign=campaign, actor=actor, action="intake.remember_sender", data={
        "draft": draft.pk, "known_sender": sender.pk, "department": department.pk, "source": draft.source,
    })
    return sender


# --------------------------------------------------------------------------- a failed acknowledgement


def acknowledgement_gave_up(draft_id: int, failure: str) -> None:
    """Records that the acknowledgement of a draft will not be tried again (the draft's page offers to)."""
    Draft.objects.filter(pk=draft_id, acknowledged_at__isnull=True).update(
        acknowledgement_failed_at=timezone.now(), acknowledgement_failure=failure)


def may_acknowledge_again(draft: Draft) -> bool:
    return (draft.acknowledgement_failed_at is not None and draft.acknowledged_at is None
            and registered_campaign(draft) is not None)


def acknowledgement_again(*, draft: Draft, actor) -> Draft:
    """"Enviar el acuse de nuevo": one new attempt (with its retries) of an acknowledgement that was given up.
    The failure mark is cleared under the draft's lock, so a double click enqueues one attempt."""
    _require_assistant(actor)
    with transaction.atomic():
        locked = Draft.objects.select_for_update(of=("self",)).select_related(
            "campaign", "merged_into__campaign", "merged_into__follows_up", "follows_up").get(pk=draft.pk)
        campaign = registered_campaign(locked)
        if locked.acknowledged_at is not None:
            raise ValidationError(_("El acuse ya se envió."), code="conflict")
        if locked.acknowledgement_failed_at is None or campaign is None:
            raise ValidationError(_("El acuse ya se está enviando de nuevo."), code="conflict")
        audit_log(campaign=campaign, actor=actor, action="intake.acknowledge_again", data={
            "draft": locked.pk, "source": locked.source, "failure": locked.acknowledgement_failure,
        })
        locked.acknowledgement_failed_at, locked.acknowledgement_failure = None, ""
        locked.save(update_fields=["acknowledgement_failed_at", "acknowledgement_failure"])
        from .acknowledgements import acknowledgement_retry_enqueue

        acknowledgement_retry_enqueue(locked, campaign.folio)
    return locked


# --------------------------------------------------------------------------- a follow-up of a registered request

FOLLOW_UP_TEXT_LIMIT = 4000


def follow_up_refusal(draft: Draft) -> str:
    """Why the draft cannot be added to the request it follows up ("" when it can)."""
    campaign = draft.follows_up
    if campaign is None:
        return _("Esta solicitud por registrar no es sobre una solicitud ya registrada.")
    if not campaign.is_open:
        return _("La solicitud %(folio)s está «%(state)s»: ya no se le agregan mensajes ni archivos. Regístrela "
                 "como solicitud nueva o descártela.") % {"folio": campaign.folio,
                                                          "state": campaign.get_state_display()}
    return ""


def follow_up_summary(draft: Draft, messages, carried) -> str:
    """The timeline's comment: what arrived, by which channel, and the messages' text (no address)."""
    head = ngettext("Mensaje de seguimiento recibido por %(channel)s (n.º %(draft)s), con %(n)d archivo agregado.",
                    "Mensaje de seguimiento recibido por %(channel)s (n.º %(draft)s), con %(n)d archivos agregados.",
                    len(carried)) % {"channel": draft.get_source_display(), "draft": draft.pk, "n": len(carried)}
    if not carried:
        head = _("Mensaje de seguimiento recibido por %(channel)s (n.º %(draft)s), sin archivos agregados.") % {
            "channel": draft.get_source_display(), "draft": draft.pk}
    texts = []
    for message in messages:
        body = message.body.strip()
        if body:
            who = message.sender_name or _("Remitente")
            texts.append(f"{who}: {body}")
    text = "\n\n".join(texts)
    if len(text) > FOLLOW_UP_TEXT_LIMIT:
        text = text[:FOLLOW_UP_TEXT_LIMIT - 1] + "…"
    return f"{head}\n\n{text}" if text else head


def draft_follow_up(*, draft: Draft, actor, attachment_choices=(), seen=None) -> tuple[Campaign, AuditEntry]:
    """"Agregar a la solicitud RP-…": the draft's chosen files become the request's attachments (checked like
    uploads; any refusal stops everything), its messages' text goes to the request's timeline, and the draft is
    registered with `campaign` empty and `follows_up` naming the request. Only while the request is open."""
    _require_assistant(actor)
    carried = _carried_attachments(draft, attachment_choices)
    with files_removed_on_failure(), transaction.atomic():
        locked = _locked(draft, allowed=(Draft.Status.OPEN,))
        _require_seen(locked, seen, _("Revíselo y vuelva a agregarlo."))
        if locked.follows_up_id is None:
            raise ValidationError(follow_up_refusal(locked))
        campaign = Campaign.objects.select_for_update().get(pk=locked.follows_up_id)
        locked.follows_up = campaign
        refusal = follow_up_refusal(locked)
        if refusal:
            raise ValidationError(refusal, code="closed")
        messages = list(IncomingMessage.objects.filter(draft=locked).order_by("received_at", "pk"))
        stored = [attachment.store(campaign=campaign, actor=actor) for attachment in carried]
        merged = list(locked.merged_drafts.values_list("pk", flat=True))
        entry = audit_log(campaign=campaign, actor=actor, action="intake.follow_up",
                          comment=follow_up_summary(locked, messages, carried), data={
                              "draft": locked.pk, "merged": merged, "source": locked.source,
                              "messages": [m.pk for m in messages],
                              "attachments": [{"id": a.pk, "name": a.original_name, "kind": a.kind} for a in stored],
                          })
        _decide(locked, Draft.Status.REGISTERED, actor, timezone.now(), department=campaign.department)
        if stored:
            notify(entry=entry, roles=waiting_roles(campaign.state))
    return campaign, entry
