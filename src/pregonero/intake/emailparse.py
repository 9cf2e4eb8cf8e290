"""One e-mail, as the office's mailbox holds it (RFC 5322 bytes), read into an `Incoming` for record_incoming.

Departments write from every kind of client: Outlook with "iso-8859-1" labels on Windows-1252 text, webmail that
sends HTML only, old systems that declare a charset nobody knows or break the MIME structure. Nothing here
raises: what cannot be read well is decoded with fallbacks and said in Spanish in ``problems``, and the bytes
travel whole in ``raw`` (kept as the .eml), so nothing is lost. Mail that is not a request (auto-replies,
newsletters, delivery reports) gets an ``aside_reason`` and is kept aside, never dropped.
"""

import codecs
import email
import hashlib
import logging
import mimetypes
import re
from datetime import UTC, datetime
from email import policy
from email.errors import HeaderParseError
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses, parsedate_to_datetime
from html.parser import HTMLParser

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _

from pregonero.campaigns.models import AttachmentKind
from pregonero.campaigns.uploads import SPREADSHEET_TYPES, clean_filename, extension_of, validate_upload

from .models import Source
from .services import Incoming, IncomingFile

log = logging.getLogger(__name__)

# Labels that mail clients put on Windows-1252 text: browsers read them all as windows-1252 (WHATWG Encoding
# Standard), so curly quotes and the euro sign come out right instead of as control characters.
WINDOWS_1252_FAMILY = {"ascii", "iso8859-1", "cp1252"}
# Python codecs that are not character sets a mail could use, whatever the header says.
NOT_CHARSETS = {"unicode-escape", "raw-unicode-escape", "idna", "punycode"}
CHARSET_NAMES = {"utf-8": "UTF-8", "cp1252": "Windows-1252", "latin-1": "Latin-1"}
MAX_FILES = 50
MAX_DEPTH = 20
MAX_ID_LENGTH = 250
MAX_REPLY_IDS = 100
ANGLE_ID = re.compile(r"<([^<>\s]+)>")
EMAIL_ADDRESS = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Types a browser would run or render as a page: such a file is kept as plain bytes.
ACTIVE_TYPES = ("html", "xml", "svg", "javascript", "ecmascript")

# Content decides the kind; the sender's extension is fixed when it lies (a JPEG named "invitacion" or ".png").
MAGIC = ((b"\xff\xd8\xff", "image", ("jpg", "jpeg")), (b"\x89PNG\r\n\x1a\n", "image", ("png",)),
         (b"%PDF-", "document", ("pdf",)))
KIND_OF_FAMILY = {"image": AttachmentKind.INVITATION_IMAGE, "document": AttachmentKind.SCAN,
                  "spreadsheet": AttachmentKind.GUEST_LIST}
# validate_upload's answers that only mean "not a file of that kind": the file is kept as an ordinary one.
NOT_THIS_KIND = {"extension", "content"}
# ... and those that mean the file is dangerous to open: it stays only inside the original e-mail.
DANGEROUS = {"polyglot", "pixels", "zip_bomb", "odd_zip", "xml_doctype"}

AUTOMATIC_SENDERS = {"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"}
OUT_OF_OFFICE = re.compile(
    r"^\s*(?:respuesta\s+autom[aá]tica|autorespuesta|auto[\s-]?reply|automatic\s+reply|auto[\s-]?response"
    r"|out\s+of\s+(?:the\s+)?office|fuera\s+de\s+(?:la\s+)?oficina|ausente|ausencia|estoy\s+de\s+vacaciones"
    r"|vacation\s+reply|on\s+vacation|undeliverable|no\s+entregado|delivery\s+status\s+notification"
    r"|mail\s+delivery\s+(?:failed|failure|subsystem)|returned\s+mail)\b",
    re.IGNORECASE,
)


# --------------------------------------------------------------------------- text in any charset


def _codec(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when there is no such charset."""
    try:
        info = codecs.lookup(label.strip().strip('"').lower())
    except (LookupError, ValueError, AttributeError):
        return None
    name = info.name
    # zlib, base64, rot13… are codecs but not character sets (CPython marks them so).
    if not getattr(info, "_is_text_encoding", True) or name in NOT_CHARSETS:
        return None
    return "cp1252" if name in WINDOWS_1252_FAMILY else name


def decode_text(data: bytes, label: str | None, problems: list[str]) -> str:
    """Bytes as text: the declared charset, then UTF-8, then Windows-1252, then Latin-1 (which reads anything).
    A fallback is noted in ``problems`` (a missing charset is not: UTF-8 then Windows-1252 is the best guess)."""
    codec = _codec(label) if label else None
    for candidate in dict.fromkeys(filter(None, (codec, "utf-8", "cp1252"))):
        try:
            text = data.decode(candidate)
        except (UnicodeDecodeError, LookupError):
            continue
        if label and candidate != codec:
            _note_charset(problems, label, codec, candidate)
        return text
    if label:
        _note_charset(problems, label, codec, "latin-1")
    return data.decode("latin-1")


def _note_charset(problems: list[str], label: str, codec: str | None, used: str) -> None:
    values = {"charset": label.strip()[:40], "used": CHARSET_NAMES.get(used, used)}
    if codec is None:
        note(problems, _("Parte del texto venía en una codificación desconocida («%(charset)s»); se leyó como "
                         "%(used)s y algunas letras podrían verse mal.") % values)
    else:
        note(problems, _("Parte del texto no estaba en la codificación que declaraba («%(charset)s»); se leyó como "
                         "%(used)s y algunas letras podrían verse mal.") % values)


def note(problems: list[str], text: str) -> None:
    if text not in problems:
        problems.append(text)


def clean_text(text: str) -> str:
    """What a database column accepts: no NUL (PostgreSQL refuses it), no lone surrogates."""
    return text.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")


def one_line(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f\s]+", " ", text).strip()


# --------------------------------------------------------------------------- headers


def _header_bytes_as_text(value: str) -> str:
    """A header as parsed from bytes keeps 8-bit bytes as surrogates: raw UTF-8 (RFC 6532) or, from old
    clients, Windows-1252."""
    data = value.encode("utf-8", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def decode_words(value: str, problems: list[str]) -> str:
    """Decodes RFC 2047 encoded words (=?utf-8?B?...?=) in a header value already read as text."""
    try:
        chunks = decode_header(value)
    except (HeaderParseError, ValueError, LookupError):
        return value
    parts = []
    for chunk, charset in chunks:
        if isinstance(chunk, str):
            parts.append(chunk)
        elif charset is None:
            parts.append(chunk.decode("raw-unicode-escape", "replace"))  # how decode_header encoded it
        else:
            parts.append(decode_text(chunk, charset, problems))
    return "".join(parts)


class Headers:
    """The message's headers as text, each read only when asked (a malformed one cannot spoil the others)."""

    def __init__(self, message: Message):
        self.values: dict[str, list[str]] = {}
        for name, value in message.raw_items():
            self.values.setdefault(str(name).lower(), []).append(_header_bytes_as_text(str(value)))

    def raw(self, name: str) -> str:
        values = self.values.get(name.lower())
        return re.sub(r"\r?\n[ \t]*", " ", values[0]) if values else ""

    def has(self, name: str) -> bool:
        return name.lower() in self.values

    def text(self, name: str, problems: list[str]) -> str:
        return one_line(decode_words(self.raw(name), problems))


def message_id(value: str) -> str:
    """A Message-ID without its angle brackets; a very long one becomes a digest (the column holds 300)."""
    found = ANGLE_ID.search(value)
    words = value.split()
    ident = one_line(found.group(1) if found else (words[0] if words else ""))
    if len(ident) > MAX_ID_LENGTH:
        ident = "mid-sha256:" + hashlib.sha256(ident.encode("utf-8", "replace")).hexdigest()
    return ident


def reply_ids(headers: Headers) -> tuple[str, ...]:
    """The messages this one answers, nearest first: In-Reply-To, then References from the last."""
    in_reply_to = [message_id(f"<{m}>") for m in ANGLE_ID.findall(headers.raw("In-Reply-To"))]
    if not in_reply_to and headers.raw("In-Reply-To").strip():
        in_reply_to = [message_id(headers.raw("In-Reply-To"))]
    references = [message_id(f"<{m}>") for m in reversed(ANGLE_ID.findall(headers.raw("References")))]
    return tuple(dict.fromkeys(i for i in in_reply_to + references if i))[:MAX_REPLY_IDS]


def sender(headers: Headers, problems: list[str]) -> tuple[str, str]:
    """(display name, address) of the From header; the first address when it names several."""
    raw = headers.raw("From")
    try:
        pairs = getaddresses([raw])
    except (ValueError, TypeError, IndexError):
        pairs = []
    for name, address in pairs:
        address = address.strip()
        if "@" in address and " " not in address and len(address) <= 254:
            return one_line(decode_words(name, problems))[:200], address
    found = EMAIL_ADDRESS.search(raw)
    if found and len(found.group()) <= 254:
        return "", found.group()
    note(problems, _("El correo no dice de qué dirección viene (falta el remitente o no se entiende)."))
    return "", ""


def sent_at(headers: Headers) -> datetime | None:
    value = headers.raw("Date").strip()
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def spam_flagged(headers: Headers) -> bool:
    """The mail server's spam filter said so: SpamAssassin/Rspamd (X-Spam-Flag, X-Spam-Status) or Exchange
    (spam confidence level 5 or more)."""
    if headers.raw("X-Spam-Flag").strip().lower() == "yes":
        return True
    if headers.raw("X-Spam-Status").strip().lower().startswith("yes"):
        return True
    found = re.match(r"\s*(-?\d+)", headers.raw("X-MS-Exchange-Organization-SCL"))
    return bool(found) and int(found.group(1)) >= 5


def aside_reason(headers: Headers, address: str, subject: str, content_type: str) -> str:
    """Why this mail is not a request (auto-reply, newsletter, bounce), or "" when it may be one."""
    auto = headers.raw("Auto-Submitted").strip().lower()
    if auto and not auto.startswith("no"):
        return _("Respuesta automática (el correo se marca como enviado por un programa).")
    if headers.has("X-Autoreply") or headers.has("X-Autorespond"):
        return _("Respuesta automática.")
    if content_type == "multipart/report" or address.split("@")[0].lower() in AUTOMATIC_SENDERS:
        return _("Aviso del servidor de correo (un mensaje que no se pudo entregar).")
    if spam_flagged(headers):
        return _("El servidor de correo lo marcó como correo no deseado (spam).")
    if headers.raw("Precedence").strip().lower() in {"bulk", "list", "junk"}:
        return _("Correo masivo o de una lista de distribución.")
    if headers.has("List-Id") or headers.has("List-Unsubscribe"):
        return _("Boletín o lista de correo (trae la opción de darse de baja).")
    if OUT_OF_OFFICE.search(subject):
        return _("Respuesta automática de ausencia o de aviso de entrega (por su asunto).")
    return ""


# --------------------------------------------------------------------------- HTML as readable text


class HtmlText(HTMLParser):
    """The words of an HTML body, with line breaks where blocks end; scripts, styles and the head left out."""

    SKIPPED = {"script", "style", "head", "title", "template"}
    BLOCKS = {"p", "div", "tr", "table", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "section",
              "article", "header", "footer", "hr", "pre", "address", "dl", "dt", "dd", "center", "form"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.link: str | None = None
        self.link_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "body":
            self.skipping = 0  # a head that was never closed
        elif tag in self.SKIPPED:
            self.skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n• ")
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            self.link = href if href.startswith(("http://", "https://", "mailto:")) else None
            self.link_text = []

    def handle_endtag(self, tag):
        if tag in self.SKIPPED:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag in ("td", "th"):
            self.parts.append("  ")
        elif tag == "a" and self.link:
            shown = " ".join("".join(self.link_text).split())
            target = self.link.removeprefix("mailto:")
            if target not in shown:
                self.parts.append(f" ({target})")
            self.link = None

    def handle_data(self, data):
        if self.skipping:
            return
        text = re.sub(r"\s+", " ", data)
        self.parts.append(text)
        if self.link:
            self.link_text.append(text)

    def text(self) -> str:
        lines = (line.strip() for line in "".join(self.parts).splitlines())
        return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def html_to_text(html: str) -> str:
    parser = HtmlText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - html.parser on hostile markup; keep what was read
        log.warning("HTML body only partly readable")
    return parser.text()


# --------------------------------------------------------------------------- body and attachments


class Reader:
    """Walks the MIME tree once: the text parts make the body, the others become files."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        self.plain: list[str] = []
        self.html: list[str] = []
        self.files: list[IncomingFile] = []
        self.file_count = 0

    def walk(self, part: Message, depth: int = 0) -> None:
        if depth > MAX_DEPTH:
            note(self.problems, _("El correo tiene demasiadas partes anidadas; lo más profundo solo está en el "
                                  "original (.eml)."))
            return
        ctype = part.get_content_type()
        if ctype == "message/rfc822" or (part.is_multipart() and not ctype.startswith("multipart/")):
            self.attach(part, forwarded=True)
        elif part.is_multipart():
            children = [c for c in part.get_payload() if isinstance(c, Message)]
            if ctype == "multipart/alternative":
                self.alternative(children, depth)
            else:
                for child in children:
                    self.walk(child, depth + 1)
        elif ctype.startswith("multipart/"):
            # A multipart without a usable boundary: its text is shown as it came.
            note(self.problems, _("El correo venía mal armado (MIME); se muestra su texto tal como llegó."))
            self.plain.append(self.text_of(part))
        elif self.is_attachment(part, ctype):
            self.attach(part)
        elif ctype == "text/html":
            self.html.append(self.text_of(part))
        else:
            self.plain.append(self.text_of(part))

    def alternative(self, children: list[Message], depth: int) -> None:
        """One version of the text (plain preferred, as sent); files from every version (inline images)."""
        versions = []
        for child in children:
            version = Reader(self.problems)
            version.file_count = self.file_count
            version.walk(child, depth + 1)
            self.file_count = version.file_count
            self.files.extend(version.files)
            versions.append(version)
        chosen = next((v for v in versions if v.plain), None) or next((v for v in versions if v.html), None)
        if chosen:
            self.plain.extend(chosen.plain)
            self.html.extend(chosen.html)

    @staticmethod
    def is_attachment(part: Message, ctype: str) -> bool:
        if ctype not in ("text/plain", "text/html"):
            return True
        return (part.get_content_disposition() or "").lower() == "attachment" or bool(
            part.get_filename() or part.get_param("name"))

    def text_of(self, part: Message) -> str:
        data = part.get_payload(decode=True) or b""
        text = decode_text(data, part.get_param("charset"), self.problems)
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def body(self) -> str:
        texts = [t.strip() for t in self.plain if t.strip()]
        if not texts:
            texts = [html_to_text(t) for t in self.html]
        return "\n\n".join(t for t in texts if t)

    def attach(self, part: Message, forwarded: bool = False) -> None:
        self.file_count += 1
        if self.file_count > MAX_FILES:
            note(self.problems, _("El correo trae más de %(count)d archivos; los demás solo están en el original "
                                  "(.eml).") % {"count": MAX_FILES})
            return
        name = self.filename(part, forwarded)
        content = self.content_of(part, forwarded)
        if content is None:
            note(self.problems, _("No se pudo leer el archivo «%(name)s»; está dentro del correo original (.eml).")
                 % {"name": name})
            return
        limit = settings.INTAKE_MAX_ATTACHMENT_BYTES
        if len(content) > limit:
            note(self.problems, _("«%(name)s» pesa %(size)s, más de lo que se guarda por separado (%(limit)s); "
                                  "está dentro del correo original (.eml).")
                 % {"name": name, "size": filesizeformat(len(content)), "limit": filesizeformat(limit)})
            return
        if not content:
            note(self.problems, _("«%(name)s» venía vacío.") % {"name": name})
            return
        ctype = "message/rfc822" if forwarded else part.get_content_type()
        item = attachment(name, ctype, content, self.problems)
        if item is not None:
            self.files.append(item)

    def filename(self, part: Message, forwarded: bool) -> str:
        try:
            raw = part.get_filename() or part.get_param("name") or ""
        except (ValueError, LookupError, TypeError):
            raw = ""
        if isinstance(raw, tuple):  # an RFC 2231 value the library left undecoded
            raw = raw[2] if len(raw) == 3 else ""
        name = one_line(decode_words(_header_bytes_as_text(str(raw)), self.problems))
        if not name:
            if forwarded:
                return _("correo-reenviado-%(n)d.eml") % {"n": self.file_count}
            guessed = mimetypes.guess_extension(part.get_content_type()) or ".bin"
            name = _("adjunto-%(n)d") % {"n": self.file_count} + guessed
        return clean_filename(name)

    @staticmethod
    def content_of(part: Message, forwarded: bool) -> bytes | None:
        try:
            if forwarded:
                inner = part.get_payload()
                inner = inner[0] if isinstance(inner, list) and inner else inner
                return inner.as_bytes(policy=policy.compat32) if isinstance(inner, Message) else b""
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else b""
        except Exception:  # noqa: BLE001 - a broken part costs that file, not the message
            log.warning("an attachment could not be decoded")
            return None


def _family(name: str, ctype: str, content: bytes) -> tuple[str | None, str]:
    """The upload family the content belongs to ("image", "document", "spreadsheet") and the right extension."""
    ext = extension_of(name)
    for magic, family, extensions in MAGIC:
        if content.startswith(magic):
            return family, ext if ext in extensions else extensions[0]
    if ext in SPREADSHEET_TYPES:
        return "spreadsheet", ext
    for spreadsheet_ext, spreadsheet_type in SPREADSHEET_TYPES.items():
        if ctype == spreadsheet_type:
            return "spreadsheet", spreadsheet_ext
    return None, ext


def _with_extension(name: str, ext: str) -> str:
    if extension_of(name) == ext:
        return name
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return clean_filename(f"{stem}.{ext}")


def attachment(name: str, ctype: str, content: bytes, problems: list[str]) -> IncomingFile | None:
    """A file as the request form would take it: images re-encoded from their pixels, PDFs and spreadsheets
    checked (campaigns.uploads). Anything else is kept as an ordinary file; a dangerous one is not kept apart."""
    family, ext = _family(name, ctype, content)
    safe_type = "application/octet-stream" if any(a in ctype for a in ACTIVE_TYPES) else ctype
    if family is None:
        return IncomingFile(name=name, content_type=safe_type, content=content)
    upload = SimpleUploadedFile(_with_extension(name, ext), content, ctype)
    try:
        accepted = validate_upload(upload, family)
    except ValidationError as error:
        message = " ".join(error.messages)
        if error.code in DANGEROUS:
            note(problems, message + " " + _("Por seguridad no se guardó aparte; está dentro del correo original "
                                             "(.eml)."))
            return None
        if error.code not in NOT_THIS_KIND:
            note(problems, message + " " + _("Se guardó como un archivo más, sin tipo."))
        return IncomingFile(name=name, content_type=safe_type, content=content)
    upload.seek(0)
    return IncomingFile(name=upload.name, content_type=accepted.content_type, content=upload.read(),
                        kind=KIND_OF_FAMILY[family])


# --------------------------------------------------------------------------- the whole message


def raw_digest(raw: bytes) -> str:
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def parse_email(raw: bytes) -> Incoming:
    """The e-mail as an Incoming (source e-mail); never raises."""
    try:
        return _parse(raw)
    except Exception:  # noqa: BLE001 - the last resort: the message is kept whole, to be read from the .eml
        log.exception("e-mail not readable, kept whole")
        return Incoming(
            source=Source.EMAIL, external_id=raw_digest(raw), sender_address="", raw=raw,
            problems=[_("No se pudo leer este correo; ábralo desde el original (.eml).")],
        )


def _parse(raw: bytes) -> Incoming:
    problems: list[str] = []
    message = email.message_from_bytes(raw, policy=policy.compat32)
    headers = Headers(message)
    name, address = sender(headers, problems)
    subject = headers.text("Subject", problems)
    reader = Reader(problems)
    reader.walk(message)
    body = reader.body()
    if any(part.defects for part in message.walk()):
        note(problems, _("El correo tiene errores de formato; si algo falta o se ve mal, revise el original "
                         "(.eml)."))
    return Incoming(
        source=Source.EMAIL,
        external_id=message_id(headers.raw("Message-ID")) or raw_digest(raw),
        sender_address=clean_text(address),
        sender_name=clean_text(name),
        subject=clean_text(subject)[:300],
        body=clean_text(body),
        sent_at=sent_at(headers),
        raw=raw,
        files=reader.files,
        problems=[clean_text(p) for p in problems],
        aside_reason=aside_reason(headers, address, subject, message.get_content_type()),
        replies_to=reply_ids(headers),
    )
