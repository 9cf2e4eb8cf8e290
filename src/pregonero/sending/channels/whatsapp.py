"""WhatsApp Business Cloud API channel: payload builders, error classification and an async client.

We call the Graph API directly over aiohttp instead of using a wrapper library (reference §8): the base URL must
point at the local emulator in tests, classification and rate limits must stay ours, and aiohttp's client
measured roughly ten times httpx's throughput on the hot path (DESIGN §5). Section numbers below refer to
``/work/shared/reference/whatsapp-cloud-api.md``.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import orjson
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from .base import Channel, SendError, SendResult, mask_phone, redact_numbers

logger = logging.getLogger(__name__)

CALLBACK_DATA_MAX_LENGTH = 512  # §2, as documented by pywa
TEXT_BODY_MAX_LENGTH = 4096  # §2b
TEMPLATE_KEYS = ("id", "name", "language", "status", "category", "parameter_format", "components")
TEMPLATE_FIELDS = ",".join(key for key in TEMPLATE_KEYS if key != "id")  # Graph always returns the id
MAX_TEMPLATE_PAGES = 200  # a guard against a provider that keeps handing out cursors, not a real limit

# Quick-reply payload format: "rsvp:<invitation RSVP token>:<yes|no>". The token is the invitation's opaque
# RSVP token (no colons); WhatsApp echoes the whole string back as ``button.payload`` when the guest taps.
RSVP_PAYLOAD_PREFIX = "rsvp"
RSVP_YES, RSVP_NO = "yes", "no"

MEDIA_ID = re.compile(r"[0-9]{1,40}")  # media ids are decimal strings (§1); anything else never reaches a URL
MEDIA_TOO_LARGE = "media_too_large"  # SendError.code of a download refused for its size
# Meta serves the files users send from its CDN, not from the Graph host (lookaside.fbsbx.com, from community
# documentation: unverified in the reference). The token may go there, over HTTPS, and nowhere else new.
MEDIA_HOSTS = {"graph.facebook.com": ("lookaside.fbsbx.com",)}


@dataclass(frozen=True)
class WhatsAppConfig:
    """Where and as whom to call the Cloud API. ``base_url`` has no default on purpose: tests point it at the
    emulator, production at Meta's Graph host, and nothing should silently fall back to either."""

    base_url: str
    token: str = field(repr=False)  # repr=False keeps the token out of logs and tracebacks
    phone_number_id: str
    waba_id: str
    api_version: str = "v23.0"
    timeout: float = 15.0  # seconds for a whole request, connection included
    max_in_flight: int = 200  # connection pool size: the most requests one client has open at once

    @classmethod
    def from_settings(cls, settings=None) -> WhatsAppConfig:
        """From Django settings WHATSAPP_API_BASE_URL, _TOKEN, _PHONE_NUMBER_ID, _WABA_ID (required) and
        _API_VERSION, _TIMEOUT, _MAX_IN_FLIGHT (optional)."""
        settings = settings or django_settings
        names = {name: f"WHATSAPP_{name.upper()}" for name in cls.__dataclass_fields__}
        names["base_url"] = "WHATSAPP_API_BASE_URL"
        values = {key: getattr(settings, name) for key, name in names.items() if getattr(settings, name, "")}
        missing = [names[key] for key in ("base_url", "token", "phone_number_id", "waba_id") if key not in values]
        if missing:
            raise ImproperlyConfigured(f"WhatsApp is not configured: missing {', '.join(missing)}")
        return cls(**values)


# --- Payloads (§2) ------------------------------------------------------------------------------------------


def rsvp_quick_reply_payload(invitation_token: str, answer: str) -> str:
    """The payload for one RSVP button, e.g. ``rsvp:Xy7…:yes``."""
    if answer not in (RSVP_YES, RSVP_NO):
        raise ValueError(f"RSVP answer must be {RSVP_YES!r} or {RSVP_NO!r}")
    if not invitation_token or ":" in invitation_token:
        raise ValueError("the invitation token must be non-empty and contain no ':'")
    return f"{RSVP_PAYLOAD_PREFIX}:{invitation_token}:{answer}"


def parse_rsvp_quick_reply(payload: str) -> tuple[str, str] | None:
    """``(invitation_token, answer)`` from a tapped button's payload, or None if it is not one of ours."""
    parts = str(payload).split(":")
    if len(parts) == 3 and parts[0] == RSVP_PAYLOAD_PREFIX and parts[1] and parts[2] in (RSVP_YES, RSVP_NO):
        return parts[1], parts[2]
    return None


def _recipient(to_e164: str) -> str:
    # The API accepts "+" or not (§2); we send bare digits so the request matches the wa_id style of replies.
    digits = str(to_e164).strip().removeprefix("+")
    if not digits.isdigit() or not 8 <= len(digits) <= 15:
        raise ValueError(f"not an E.164 number: {mask_phone(to_e164)}")
    return digits


def _envelope(to_e164: str, message_type: str, callback_data: str) -> dict:
    if len(callback_data) > CALLBACK_DATA_MAX_LENGTH:
        raise ValueError(f"callback data longer than {CALLBACK_DATA_MAX_LENGTH} characters")
    envelope = {"messaging_product": "whatsapp", "recipient_type": "individual",
                "to": _recipient(to_e164), "type": message_type}
    if callback_data:
        envelope["biz_opaque_callback_data"] = callback_data
    return envelope


def build_template_payload(
    *,
    to_e164: str,
    template_name: str,
    language: str,
    callback_data: str,
    body_params: Sequence[str] = (),
    header_media_id: str | None = None,
    header_image_link: str | None = None,
    quick_reply_payloads: Sequence[str] = (),
    url_suffix: tuple[int, str] | None = None,
) -> dict:
    """A template message (§2a). ``callback_data`` is our message id; WhatsApp echoes it in every status webhook.

    ``body_params`` fill ``{{1}}, {{2}}, …`` in order. ``quick_reply_payloads`` are given in the order of the
    template's buttons, starting at button 0 (see ``rsvp_quick_reply_payload``). The header image is either an
    uploaded media id (preferred at volume, §7) or a public link. ``url_suffix`` is (button index, text) for a URL
    button whose approved address ends in ``{{1}}`` (the guest's personal page: the text is the invitation token).
    """
    if header_media_id and header_image_link:
        raise ValueError("give the header image as a media id or as a link, not both")
    components: list[dict] = []
    if header_media_id or header_image_link:
        image = {"id": header_media_id} if header_media_id else {"link": header_image_link}
        components.append({"type": "header", "parameters": [{"type": "image", "image": image}]})
    if body_params:
        for position, value in enumerate(body_params, start=1):
            if not str(value).strip():
                # WhatsApp rejects empty parameters; failing here names the culprit instead of a 132012 later.
                raise ValueError(f"template body parameter {{{{{position}}}}} is empty")
        parameters = [{"type": "text", "text": str(value)} for value in body_params]
        components.append({"type": "body", "parameters": parameters})
    for index, payload in enumerate(quick_reply_payloads):
        components.append({"type": "button", "sub_type": "quick_reply", "index": str(index),
                           "parameters": [{"type": "payload", "payload": payload}]})
    if url_suffix is not None:
        index, text = url_suffix
        components.append({"type": "button", "sub_type": "url", "index": str(index),
                           "parameters": [{"type": "text", "text": text}]})
    template = {"name": template_name, "language": {"code": language}, "components": components}
    return {**_envelope(to_e164, "template", callback_data), "template": template}


def build_text_payload(*, to_e164: str, body: str, callback_data: str = "", preview_url: bool = False) -> dict:
    """Free text (§2b); only deliverable inside the 24-hour window the guest opened by writing to us."""
    if not body or len(body) > TEXT_BODY_MAX_LENGTH:
        raise ValueError(f"text body must have 1 to {TEXT_BODY_MAX_LENGTH} characters")
    return {**_envelope(to_e164, "text", callback_data), "text": {"preview_url": preview_url, "body": body}}


# --- Error classification (§3) --------------------------------------------------------------------------------

_T, _P, _A = SendError.TRANSIENT, SendError.PERMANENT, SendError.ACCOUNT
_API_RATE = (_T, _("La cuenta de WhatsApp alcanzó su límite de llamadas; se reintentará más tarde."), 60)
_TEMPORARY = (_T, _("WhatsApp tuvo un error temporal; se reintentará."), None)
_PERMISSION = (_A, _("La cuenta de WhatsApp no tiene permiso para esta operación; revise su configuración."), None)

# code -> (kind, reason, minimum wait in seconds). Codes and meanings from reference §3.3; keep them in step.
ERROR_CODES: dict[int, tuple[str, str, float | None]] = {
    130429: (_T, _("WhatsApp limitó la velocidad de envío de la cuenta; se reintentará en un momento."), 1),
    131056: (_T, _("Se enviaron demasiados mensajes seguidos a este número; se reintentará más tarde."), 6),
    80007: _API_RATE, 4: _API_RATE, 80004: _API_RATE,  # 80004 is unverified; §3.3 says treat it like 4
    131000: (_T, _("WhatsApp no pudo enviar el mensaje por un error desconocido; se reintentará."), None),
    131016: (_T, _("El servicio de WhatsApp no está disponible por ahora; se reintentará."), None),
    1: _TEMPORARY, 2: _TEMPORARY,
    131057: (_T, _("La cuenta de WhatsApp está en mantenimiento; se reintentará en un minuto."), 60),
    131026: (_P, _("El número no tiene WhatsApp o no puede recibir mensajes."), None),
    131047: (_P, _("Pasaron más de 24 horas desde el último mensaje de la persona; solo puede recibir una "
                   "plantilla aprobada."), None),
    131049: (_P, _("WhatsApp no entregó el mensaje para no saturar a la persona con mensajes de marketing; "
                   "no reintentar antes de 24 horas."), None),
    131050: (_P, _("La persona pidió no recibir mensajes de marketing de esta cuenta."), None),
    131051: (_P, _("WhatsApp no admite este tipo de mensaje."), None),
    131053: (_P, _("WhatsApp no pudo obtener la imagen o el archivo del mensaje."), None),
    132000: (_P, _("La cantidad de datos no coincide con la que pide la plantilla."), None),
    132001: (_P, _("La plantilla no existe en ese idioma o no está aprobada."), None),
    132012: (_P, _("Los datos de la plantilla tienen un formato que WhatsApp no acepta."), None),
    100: (_P, _("WhatsApp rechazó la solicitud por un dato inválido."), None),
    131008: (_P, _("Falta un dato obligatorio en el mensaje."), None),
    131009: (_P, _("Un dato del mensaje tiene un valor inválido."), None),
    130472: (_P, _("Meta retuvo el mensaje porque el número participa en un experimento de WhatsApp."), None),
    131030: (_P, _("El número no está entre los destinatarios permitidos de la cuenta de prueba."), None),
    190: (_A, _("El token de acceso de WhatsApp expiró o no es válido."), None),
    0: (_A, _("WhatsApp rechazó la autenticación de la cuenta."), None),
    10: _PERMISSION,
    131048: (_A, _("WhatsApp restringió los envíos porque mensajes anteriores fueron bloqueados o reportados "
                   "como spam."), None),
    368: (_A, _("La cuenta está bloqueada temporalmente por infringir las políticas de WhatsApp."), None),
    131031: (_A, _("La cuenta de WhatsApp está bloqueada o restringida por infringir sus políticas."), None),
    131042: (_A, _("La cuenta de WhatsApp Business tiene un problema de elegibilidad o de pago."), None),
    131064: (_A, _("WhatsApp limitó los envíos por infracciones en la clasificación de plantillas."), None),
    132015: (_A, _("La plantilla está pausada por baja calidad."), None),
    132016: (_A, _("La plantilla fue desactivada de forma permanente."), None),
}


def classify_error_code(
    code: int, *, http_status: int | None = None, is_transient: bool | None = None,
    retry_after: float | None = None, detail: str = "",
) -> SendError:
    """The error for a Graph/WhatsApp error code, from a response or from a failed status webhook (§3.2).
    Unlisted codes: transient if HTTP 5xx or 429 or the provider flags ``is_transient``, permanent otherwise
    (a failed status webhook has no HTTP status, and it reports a message that did fail)."""
    entry = ERROR_CODES.get(code) or (_PERMISSION if 200 <= code <= 299 else None)
    if entry is None:
        retry = is_transient or (http_status is not None and (http_status >= 500 or http_status == 429))
        entry = _TEMPORARY if retry else (_P, _("WhatsApp rechazó el mensaje (código {code}).").format(code=code), None)
    kind, reason, default_wait = entry
    wait = retry_after if retry_after is not None else default_wait
    return SendError(kind=kind, reason=reason, code=code, retry_after=wait if kind == _T else None,
                     http_status=http_status, detail=redact_numbers(detail)[:500])


def classify(
    http_status: int | None, body_json: dict | None, exc: BaseException | None,
    *, headers: Mapping[str, str] | None = None,
) -> SendError:
    """Turn a failed exchange into a ``SendError``: by ``error.code`` when the provider sent one (never by HTTP
    status alone, §3.3), otherwise by what we know about the connection or the status line."""
    if exc is not None:
        return _classify_exception(exc)
    error = body_json.get("error") if isinstance(body_json, dict) else None
    retry_after = _retry_after(headers)
    if isinstance(error, dict) and str(error.get("code", "")).isdigit():
        error_data = error.get("error_data") if isinstance(error.get("error_data"), dict) else {}
        detail = " ".join(filter(None, [str(error.get("message", "")), str(error_data.get("details", ""))]))
        return classify_error_code(int(error["code"]), http_status=http_status, retry_after=retry_after,
                                   is_transient=error.get("is_transient"), detail=detail)
    return _classify_status(http_status, retry_after)


def _classify_status(http_status: int | None, retry_after: float | None) -> SendError:
    if http_status is None or 200 <= http_status < 300 or http_status == 504:
        # Accepted without a readable id, or a gateway gave up waiting for WhatsApp: it may have gone out.
        return SendError(kind=SendError.UNKNOWN, http_status=http_status, reason=_(
            "WhatsApp no confirmó el envío; hay que verificar si el mensaje salió antes de reintentar."))
    if http_status >= 500 or http_status == 429:
        return SendError(kind=_T, reason=_TEMPORARY[1], http_status=http_status, retry_after=retry_after)
    return SendError(kind=_P, http_status=http_status,
                     reason=_("WhatsApp rechazó la solicitud (HTTP {status}).").format(status=http_status))


def _classify_exception(exc: BaseException) -> SendError:
    detail = type(exc).__name__
    if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError, ConnectionRefusedError)):
        # Failed while connecting (or waiting for a pooled connection): the request never left.
        return SendError(kind=_T, detail=detail, reason=_(
            "No se pudo conectar con WhatsApp; el mensaje no salió y se reintentará."))
    reason = (_("WhatsApp no respondió a tiempo; hay que verificar si el mensaje salió antes de reintentar.")
              if isinstance(exc, TimeoutError) else
              _("Se cortó la conexión con WhatsApp; hay que verificar si el mensaje salió antes de reintentar."))
    return SendError(kind=SendError.UNKNOWN, reason=reason, detail=detail)


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``Retry-After`` or, for API call limits, ``x-business-use-case-usage`` (§1)."""
    if not headers:
        return None
    elif str(headers.get("Retry-After", "")).isdigit():
        return float(headers["Retry-After"])
    try:
        usage = json.loads(headers.get("x-business-use-case-usage") or "{}")
        # Graph reports estimated_time_to_regain_access in minutes (Graph API rate-limit docs; unverified, §10).
        minutes = [entry.get("estimated_time_to_regain_access") or 0
                   for entries in usage.values() for entry in entries]
    except (ValueError, AttributeError, TypeError):
        return None
    return max(minutes) * 60.0 if minutes and max(minutes) > 0 else None


# --- Client ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadedMedia:
    content: bytes = field(repr=False)
    mime_type: str


class WhatsAppClient(Channel):
    """The Cloud API over one pooled aiohttp session. Share one instance among a worker's concurrent sends.
    ``send`` posts a payload from ``build_template_payload`` / ``build_text_payload`` and returns the ``wamid``
    in a ``SendResult``; any failure raises ``SendError`` (see ``classify``). It never retries by itself.
    """

    name = "whatsapp"

    def __init__(self, config: WhatsAppConfig) -> None:
        self.config = config
        self._http: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(cls) -> WhatsAppClient:
        return cls(WhatsAppConfig.from_settings())

    def _session(self) -> aiohttp.ClientSession:
        # Created on first use so the client can be built outside an event loop (sessions bind to one).
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.config.max_in_flight),
                timeout=aiohttp.ClientTimeout(total=self.config.timeout),
                headers={"Authorization": f"Bearer {self.config.token}", "User-Agent": "Pregonero"},
                # Bodies as orjson writes them, bytes straight to the wire: the stdlib encoder was a tenth of the
                # sending thread's time (bench/send_throughput.py; its bare loop posts the same way).
                json_serialize_bytes=orjson.dumps,
            )
        return self._http

    def _url(self, *path: str) -> str:
        return "/".join([self.config.base_url.rstrip("/"), self.config.api_version, *path])

    async def _request(self, method: str, url: str, *, label: str | _SendLabel, **kwargs) -> dict:
        """One HTTP exchange; returns the JSON body of a 2xx answer, raises a classified ``SendError``.

        Only the configured API host is ever called, and redirects are not followed: the bearer token (and the
        guests' numbers) must not go to a URL that came from a response or from anyone's input.
        """
        self._refuse_foreign(url, label)
        try:
            async with self._session().request(method, url, allow_redirects=False, **kwargs) as response:
                status, headers = response.status, response.headers
                raw = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = classify(None, None, exc)
            logger.warning("WhatsApp %s failed: %s (%s)", label, error.kind, error.detail)
            raise error from exc
        try:
            body = orjson.loads(raw) if raw else None
        except ValueError:
            body = None
        if 200 <= status < 300 and isinstance(body, dict):
            return body
        error = classify(status, body, None, headers=headers)
        logger.warning("WhatsApp %s failed: %s, HTTP %s, code %s: %s",
                       label, error.kind, status, error.code, error.detail)
        raise error

    def _refuse_foreign(self, url: str, label: str | _SendLabel, *, media: bool = False) -> None:
        allowed = {_origin(self.config.base_url)}
        if media:
            allowed |= {("https", host, 443) for host in MEDIA_HOSTS.get(_origin(self.config.base_url)[1], ())}
        if _origin(url) not in allowed:
            logger.error("WhatsApp %s refused: host %r is not the configured API host", label, _origin(url)[1])
            raise SendError(kind=SendError.ACCOUNT, detail="foreign origin", reason=_(
                "Se bloqueó una llamada a una dirección distinta de la API de WhatsApp configurada; revise la "
                "configuración del servidor."))

    async def download_media(self, media_id: str, *, max_bytes: int) -> DownloadedMedia:
        """A file a user sent us (§7): ``GET /{version}/{media-id}`` gives its URL, type and size, then the URL is
        read with the bearer token, without following redirects and only from the configured API host (or Meta's
        media host when that is Graph). A file over ``max_bytes`` is refused before or while it is read, with a
        permanent ``SendError`` whose code is ``MEDIA_TOO_LARGE``; other failures are classified as for sends."""
        if not MEDIA_ID.fullmatch(str(media_id)):
            raise SendError(kind=_P, detail="media id",
                            reason=_("WhatsApp envió un identificador de archivo inválido."))
        info = await self._request("GET", self._url(str(media_id)), label="media lookup")
        size = info.get("file_size")
        if isinstance(size, int) and size > max_bytes:
            raise _too_large(max_bytes)
        url = str(info.get("url") or "")
        self._refuse_foreign(url, "media download", media=True)
        try:
            async with self._session().get(url, allow_redirects=False) as response:
                if not 200 <= response.status < 300:
                    raw = await response.content.read(65536)
                    try:
                        body = json.loads(raw) if raw else None
                    except ValueError:
                        body = None
                    error = classify(response.status, body, None, headers=response.headers)
                    logger.warning("WhatsApp media download failed: %s, HTTP %s", error.kind, response.status)
                    raise error
                chunks, total = [], 0
                async for chunk in response.content.iter_chunked(65536):
                    total += len(chunk)
                    if total > max_bytes:
                        raise _too_large(max_bytes)
                    chunks.append(chunk)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = classify(None, None, exc)
            logger.warning("WhatsApp media download failed: %s (%s)", error.kind, error.detail)
            raise error from exc
        content = b"".join(chunks)
        expected = str(info.get("sha256") or "").lower()
        if re.fullmatch(r"[0-9a-f]{64}", expected) and hashlib.sha256(content).hexdigest() != expected:
            raise SendError(kind=_T, detail="sha256 mismatch", reason=_(
                "El archivo llegó incompleto desde WhatsApp."))
        return DownloadedMedia(content=content, mime_type=str(info.get("mime_type") or "application/octet-stream"))

    async def send(self, message_payload: dict | str) -> SendResult:
        """POST /{version}/{phone-number-id}/messages (§2) and parse the acceptance (§2d). The payload is a dict, or
        its JSON text as the outbox stores it (posted as it is)."""
        url = self._url(self.config.phone_number_id, "messages")
        if isinstance(message_payload, str):
            label = _SendLabel(text=message_payload)
            body = await self._request("POST", url, label=label, data=aiohttp.payload.BytesPayload(
                message_payload.encode(), content_type="application/json"))
        else:
            label = _SendLabel(message_payload.get("to", ""))
            body = await self._request("POST", url, label=label, json=message_payload)
        messages = body.get("messages") or [{}]
        contacts = body.get("contacts") or [{}]
        if not isinstance(messages[0], dict) or not messages[0].get("id"):
            logger.warning("WhatsApp %s answered 200 without a message id: outcome unknown", label)
            raise classify(200, body, None)  # accepted, but nothing to match status webhooks with
        logger.debug("WhatsApp %s accepted as %s", label, messages[0]["id"])
        return SendResult(
            provider_id=messages[0]["id"], accepted_at=datetime.now(UTC), raw=body,
            recipient_id=str(contacts[0].get("wa_id", "")) if isinstance(contacts[0], dict) else "",
            provider_status=str(messages[0].get("message_status", "")),
        )

    async def upload_media(self, media: bytes | str | os.PathLike, mime_type: str, *,
                           filename: str | None = None) -> str:
        """POST /{version}/{phone-number-id}/media (§7); returns the media id to use in a header."""
        if isinstance(media, (bytes, bytearray)):
            data, filename = bytes(media), filename or "upload"
        else:
            path = Path(media)
            data, filename = await asyncio.to_thread(path.read_bytes), filename or path.name
        form = aiohttp.FormData()
        form.add_field("messaging_product", "whatsapp")
        form.add_field("type", mime_type)
        form.add_field("file", data, filename=filename, content_type=mime_type)
        url = self._url(self.config.phone_number_id, "media")
        body = await self._request("POST", url, label="media upload", data=form)
        if not body.get("id"):
            raise classify(200, body, None)
        return str(body["id"])

    async def list_templates(self, *, status: str | None = None, name: str | None = None,
                             page_size: int = 100) -> list[dict]:
        """GET /{version}/{waba-id}/message_templates (§6), every page.

        Pages are fetched with the ``after`` cursor on our own base URL rather than by following
        ``paging.next``, so the bearer token never goes to a host named in a response.
        """
        url = self._url(self.config.waba_id, "message_templates")
        params = {"fields": TEMPLATE_FIELDS, "limit": str(page_size)}
        params |= {key: value for key, value in (("status", status), ("name", name)) if value}
        templates: list[dict] = []
        for _page in range(MAX_TEMPLATE_PAGES):
            body = await self._request("GET", url, label="template list", params=params)
            templates.extend(_template_summary(item) for item in body.get("data") or [])
            paging = body.get("paging") or {}
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after or after == params.get("after"):
                break
            params["after"] = after
        return templates

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


def _too_large(max_bytes: int) -> SendError:
    return SendError(kind=_P, code=MEDIA_TOO_LARGE, detail=f"over {max_bytes} bytes", reason=_(
        "El archivo es más grande de lo que Pregonero acepta."))


class _SendLabel:
    """"send to ***4567" in a log line, masked only when a line is written: for each of thousands of sends, masking
    the number and parsing URLs took nearly half of the client's own CPU (bench/send_throughput.py --profile)."""

    __slots__ = ("number", "text")

    def __init__(self, number: str = "", *, text: str = ""):
        self.number, self.text = number, text  # the payload's JSON text, read only for a log line

    def __str__(self) -> str:
        number = self.number
        if self.text:
            try:
                number = str(orjson.loads(self.text).get("to", ""))
            except (ValueError, AttributeError):
                number = ""
        return f"send to {mask_phone(number)}"


@lru_cache(maxsize=256)  # every send checks the same few URLs
def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:  # a port that is not a number
        port = -1
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def _template_summary(item: dict) -> dict:
    return {key: item.get(key, [] if key == "components" else "") for key in TEMPLATE_KEYS}


def sync_templates(config: WhatsAppConfig) -> list[dict]:
    """The account's templates, for synchronous code (a Django view or task). Not for use inside a running
    event loop: ``asyncio.run`` refuses that; await ``WhatsAppClient.list_templates`` there instead."""

    async def fetch() -> list[dict]:
        async with WhatsAppClient(config) as client:
            return await client.list_templates()

    return asyncio.run(fetch())
