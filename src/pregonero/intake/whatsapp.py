"""WhatsApp intake: what a department sends to the office's number becomes (or extends) its draft request.

`sending.inbound.apply_inbound` hands us every inbound message once (by its id), inside its transaction. When the
sender is a registered department contact (a KnownSender number or the department's own WhatsApp; Mexican
``521…`` ids match their ``+52…`` numbers) a text, photo, file, voice note, video or location is stored with
`record_incoming` and this returns True: the message is a request, not an RSVP. Everybody else's messages, and
every quick-reply tap (a department contact may also be a guest), go on to the invitation flow as before.

A stop word ("BAJA", "STOP"…) from a department contact still opts the number out of invitations, as it always
did: the number may be a guest's too, and an opt-out must never be lost. The text is also kept, on a draft set
aside, because from a department "CANCELAR" may be about the request; the assistant sees it and decides.

Files are not downloaded in that transaction: the message is stored at once and a task (whatsapp_tasks.py) fetches
the file from the Graph API afterwards, with no transaction open, under the upload size limit. A failed download
loses nothing: the message stays with a Spanish problem for the assistant and the task tries again with backoff.

`acknowledge(draft, folio)` tells the requester by WhatsApp that the request was registered: free text inside the
24-hour window their last message opened, the approved template ``acuse_solicitud`` outside it.
"""

import asyncio
import logging
import mimetypes
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from pregonero.campaigns.uploads import SPREADSHEET_TYPES, clean_filename, extension_of
from pregonero.filestore import files_removed_on_failure
from pregonero.rsvp.confirmations import whatsapp_ids
from pregonero.sending.channels.base import SendError, mask_phone
from pregonero.taskqueue import enqueue_with
from pregonero.sending.channels.whatsapp import (
    MEDIA_TOO_LARGE, DownloadedMedia, WhatsAppClient, build_template_payload, build_text_payload,
)
from pregonero.sending.inbound import STOP_WORDS, fold, mexican_e164
from pregonero.sending.models import InboundMessage
from pregonero.sending.services import TEMPLATE_LANGUAGE

from .models import Draft, IncomingAttachment, IncomingMessage, Source
from .services import Incoming, match_department, record_incoming

log = logging.getLogger(__name__)

MEDIA_KINDS = ("image", "document", "audio", "video")
NOTED_KINDS = ("location", "contacts", "unsupported")  # kept as a note; nothing to download
MEDIA_ATTEMPTS = 8  # 1, 4, 16, 64 minutes, then every 6 hours: about a day and a half in all
ACK_TEMPLATE = "acuse_solicitud"  # approved UTILITY template, {{1}} = folio (devtools/emulator/templates.py)
WINDOW = timedelta(hours=24)
DEFAULT_NAMES = {"image": "imagen-whatsapp", "document": "documento-whatsapp", "audio": "audio-whatsapp",
                 "video": "video-whatsapp"}
EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "application/pdf": "pdf",
              "audio/ogg": "ogg", "audio/mpeg": "mp3", "video/mp4": "mp4", "text/csv": "csv",
              **{content_type: ext for ext, content_type in SPREADSHEET_TYPES.items()}}


# --- Routing ----------------------------------------------------------------------------------------------------


def intake_inbound(message: dict, sender_name: str = "") -> bool:
    """Stores a department contact's message on their draft; True when the invitation flow must not see it."""
    kind = message.get("type", "")
    if kind not in ("text", *MEDIA_KINDS, *NOTED_KINDS):
        return False  # taps, reactions, stickers: the invitation flow's, or nobody's
    number = mexican_e164(message.get("from", ""))
    if match_department(Source.WHATSAPP, number) is None:
        return False
    with translation.override(settings.LANGUAGE_CODE):  # problems and reasons are read by the office
        incoming, media = incoming_from(message, number, str(sender_name or ""))
    stored, created = record_incoming(incoming)
    if created and media:
        from .whatsapp_tasks import whatsapp_media_fetch

        # The download task commits with the message (never stored with its download forgotten), and runs outside
        # the webhook's transaction.
        enqueue_with(whatsapp_media_fetch, stored.pk, media)
    log.info("WhatsApp %s from department contact %s stored on draft %s", kind, mask_phone(number), stored.draft_id)
    return not incoming.aside_reason  # a stop word goes on to the opt-out as well


def incoming_from(message: dict, number: str, sender_name: str) -> tuple[Incoming, dict | None]:
    kind = message["type"]
    content = message.get(kind) if isinstance(message.get(kind), dict) else {}
    incoming = Incoming(source=Source.WHATSAPP, external_id=message["id"], sender_address=number,
                        sender_name=sender_name, sent_at=sent_at(message.get("timestamp")))
    media = None
    if kind == "text":
        incoming.body = str(content.get("body", ""))
        if fold(incoming.body) in STOP_WORDS:
            incoming.aside_reason = _("Pidió por WhatsApp no recibir más invitaciones («%(text)s»).") % {
                "text": incoming.body.strip()[:40]}
    elif kind in MEDIA_KINDS:
        incoming.body = str(content.get("caption", ""))
        mime_type = str(content.get("mime_type", "")).split(";")[0].strip().lower()
        media = {"id": str(content.get("id", "")), "mime_type": mime_type,
                 "name": media_name(kind, mime_type, str(content.get("filename", "")))}
    elif kind == "location":
        incoming.body = location_text(content)
    else:
        incoming.problems.append(_("Llegó por WhatsApp un mensaje que Pregonero no puede mostrar (%(kind)s); "
                                   "pida su contenido al remitente si hace falta.") % {"kind": kind})
    incoming.subject = incoming.body.strip().split("\n", 1)[0][:120]
    return incoming, media


def sent_at(timestamp) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(timestamp), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def location_text(content: dict) -> str:
    place = ", ".join(str(content[key]) for key in ("name", "address") if content.get(key))
    where = f"{content.get('latitude')}, {content.get('longitude')}"
    return _("Ubicación compartida: %(place)s (%(where)s)") % {"place": place or _("sin nombre"), "where": where}


def media_name(kind: str, mime_type: str, filename: str) -> str:
    """The sender's file name, cleaned; photos and voice notes have none, so they get one with the right type."""
    if filename.strip():
        return clean_filename(filename)
    ext = EXTENSIONS.get(mime_type) or (mimetypes.guess_extension(mime_type) or ".bin").lstrip(".")
    return f"{DEFAULT_NAMES[kind]}.{ext}"


def guess_kind(name: str, mime_type: str) -> str:
    """campaigns.models.AttachmentKind: a photo is the invitation image, a PDF the oficio, a workbook the list."""
    ext = extension_of(name)
    if mime_type.startswith("image/"):
        return "image"
    if mime_type == "application/pdf" or ext == "pdf":
        return "scan"
    if mime_type in SPREADSHEET_TYPES.values() or ext in SPREADSHEET_TYPES:
        return "guest_list"
    return ""


# --- Files ------------------------------------------------------------------------------------------------------


def media_fetch(message_id: int, media: dict, attempt: int = 0) -> str:
    """Downloads one message's file and attaches it; returns what happened. Safe to run twice: a message that has
    its file already is left alone. Must run with no transaction open (the download can take seconds)."""
    if not IncomingMessage.objects.filter(pk=message_id).exists():
        return "gone"
    if IncomingAttachment.objects.filter(message_id=message_id).exists():
        return "already stored"
    try:
        downloaded = media_download(media["id"])
    except SendError as error:
        return media_failed(message_id, media, attempt, error)
    with files_removed_on_failure() as save_file, transaction.atomic():
        message = IncomingMessage.objects.select_for_update().get(pk=message_id)
        if message.attachments.exists():
            return "already stored"
        name, mime_type = media["name"], media["mime_type"] or downloaded.mime_type
        attachment = IncomingAttachment(message=message, kind=guess_kind(name, mime_type), original_name=name,
                                        content_type=mime_type[:100], size=len(downloaded.content))
        save_file(attachment.file, name, downloaded.content)
        attachment.save()
        retrying = retry_problem(name)
        if retrying in message.problems:
            message.problems = [problem for problem in message.problems if problem != retrying]
            message.save(update_fields=["problems"])
    log.info("WhatsApp file for incoming message %s stored (%s bytes)", message_id, len(downloaded.content))
    return "stored"


def media_download(media_id: str) -> DownloadedMedia:
    try:
        client = WhatsAppClient.from_settings()
    except ImproperlyConfigured as error:
        raise SendError(kind=SendError.ACCOUNT, detail="not configured", reason=_(
            "WhatsApp no está configurado en el servidor.")) from error

    async def download() -> DownloadedMedia:
        try:
            return await client.download_media(media_id, max_bytes=settings.UPLOAD_MAX_BYTES)
        finally:
            await client.aclose()

    return asyncio.run(download())


def media_failed(message_id: int, media: dict, attempt: int, error: SendError) -> str:
    """Notes the failure on the message for the assistant and, unless it cannot get better, tries again later."""
    from .whatsapp_tasks import whatsapp_media_fetch

    again = (error.kind != SendError.PERMANENT and attempt + 1 < MEDIA_ATTEMPTS
             and whatsapp_media_fetch.get_backend().supports_defer)
    with translation.override(settings.LANGUAGE_CODE):
        name = media["name"]
        if error.code == MEDIA_TOO_LARGE:
            problem = _("El archivo «%(name)s» pesa más de %(limit)s, lo más que Pregonero guarda; pídalo por "
                        "correo.") % {"name": name, "limit": filesizeformat(settings.UPLOAD_MAX_BYTES)}
        elif again:
            problem = retry_problem(name)
        else:
            problem = _("No se pudo descargar el archivo «%(name)s» de WhatsApp. Pida al remitente que lo envíe "
                        "de nuevo o por correo.") % {"name": name}
    with transaction.atomic():
        message = IncomingMessage.objects.select_for_update().get(pk=message_id)
        kept = [p for p in message.problems if p != retry_problem(name)]
        message.problems = [*kept, problem] if problem not in kept else kept
        message.save(update_fields=["problems"])
    log.warning("WhatsApp file for incoming message %s not downloaded (attempt %s, %s: %s)%s", message_id,
                attempt + 1, error.kind, error.reason, "; will retry" if again else "")
    if again:
        wait = max(min(60 * 4**attempt, 6 * 3600), error.retry_after or 0)
        whatsapp_media_fetch.using(run_after=timezone.now() + timedelta(seconds=wait)).enqueue(
            message_id, media, attempt + 1)
        return "retrying"
    return "failed"


def retry_problem(name: str) -> str:
    with translation.override(settings.LANGUAGE_CODE):
        return _("No se pudo descargar el archivo «%(name)s» de WhatsApp; Pregonero lo intentará de nuevo "
                 "automáticamente.") % {"name": name}


# --- Acknowledgement --------------------------------------------------------------------------------------------


def acknowledge(draft: Draft, folio: str) -> bool:
    """Tells the draft's WhatsApp sender their request was registered with `folio`; True when WhatsApp accepted
    it (or it had been acknowledged already). Sends over HTTP: call it from a task (whatsapp_tasks), never
    inside a transaction. It records `draft.acknowledged_at` itself, and sends nothing when that is set."""
    return acknowledgement_send(draft, folio)[0]


def acknowledgement_send(draft: Draft, folio: str) -> tuple[bool, SendError | None]:
    """(accepted, the error when not). `acknowledged_at` is claimed before sending so two runs send once."""
    folio = str(folio or "").strip()
    if draft.source != Source.WHATSAPP or not draft.sender_address or not folio:
        return False, None
    now = timezone.now()
    claimed = Draft.objects.filter(pk=draft.pk, acknowledged_at__isnull=True).update(
        acknowledged_at=now, acknowledgement_failed_at=None, acknowledgement_failure="")
    if not claimed:
        return True, None
    error = None
    try:
        acknowledgement_deliver(draft.sender_address, folio)
    except SendError as failure:  # the client logged it, masked
        error = failure
    except (ValueError, ImproperlyConfigured) as failure:
        error = SendError(kind=SendError.PERMANENT, reason=str(failure), detail=type(failure).__name__)
    if error is not None:
        Draft.objects.filter(pk=draft.pk, acknowledged_at=now).update(acknowledged_at=None)
        log.warning("acknowledgement of draft %s to %s not sent (%s: %s)", draft.pk,
                    mask_phone(draft.sender_address), error.kind, error.reason)
        return False, error
    draft.acknowledged_at = now
    log.info("acknowledgement of draft %s (folio %s) sent to %s", draft.pk, folio, mask_phone(draft.sender_address))
    return True, None


def acknowledgement_deliver(number: str, folio: str) -> None:
    """Free text while the window is open; the template when it is not, or when WhatsApp says it closed."""
    with translation.override(settings.LANGUAGE_CODE):
        text = _("Recibimos su solicitud y quedó registrada con el folio %(folio)s. La Dirección de Relaciones "
                 "Públicas le informará por este medio cómo avanza.") % {"folio": folio}
    template = build_template_payload(to_e164=number, template_name=ACK_TEMPLATE, language=TEMPLATE_LANGUAGE,
                                      callback_data="", body_params=[folio])
    client, in_window = WhatsAppClient.from_settings(), window_open(number)

    async def deliver() -> None:
        try:
            if in_window:
                try:
                    await client.send(build_text_payload(to_e164=number, body=text))
                    return
                except SendError as error:
                    if error.code != 131047:
                        raise
            await client.send(template)
        finally:
            await client.aclose()

    asyncio.run(deliver())


def window_open(number: str) -> bool:
    """The customer service window: the number wrote to us (any message, a tap included) in the last 24 hours."""
    since = timezone.now() - WINDOW
    return InboundMessage.objects.filter(wa_id__in=whatsapp_ids(number), received_at__gte=since).exists()
