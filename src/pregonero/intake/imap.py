"""Polls the office's mailbox over IMAP with TLS and registers each new e-mail once (record_incoming).

Exactly once, across crashes and dropped connections: a message is fetched with BODY.PEEK[] (the server's
\\Seen flag is untouched until we are done), stored and committed, and only then marked on the server with the
``$Pregonero`` keyword and \\Seen; the cursor (UIDVALIDITY, last UID) moves only past messages so marked. A poll cut
anywhere leaves the message unmarked, so the next poll fetches it again, and storing it again changes nothing (the
Message-ID, or a digest of the bytes, is unique). A message that cannot be stored is left for the next poll
without holding up the rest.
"""

import base64
import imaplib
import logging
import re
import ssl
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from pregonero.sending.channels.base import mask_email

from .emailparse import clean_text, parse_email
from .models import MailboxCursor
from .services import Incoming, record_incoming

log = logging.getLogger(__name__)

KEYWORD = "$Pregonero"
TIMEOUT_SECONDS = 60
SEARCH_CHUNK = 200
# A message much bigger than the attachments we keep is not pulled into memory: its headers are registered and
# the assistant opens it in the mailbox.
HEADERS_ONLY_FACTOR = 5
FETCH_LINE = re.compile(rb"UID (\d+)")
SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")


class MailboxError(Exception):
    """The mailbox could not be read this time; ``message`` is in Spanish for the assistant and the command."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class MailboxConfig:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    mailbox: str = "INBOX"
    security: str = "ssl"  # or "starttls"
    ca_file: str = ""

    @classmethod
    def from_settings(cls) -> "MailboxConfig":
        return cls(host=settings.INTAKE_IMAP_HOST, port=settings.INTAKE_IMAP_PORT, user=settings.INTAKE_IMAP_USER,
                   password=settings.INTAKE_IMAP_PASSWORD, mailbox=settings.INTAKE_IMAP_MAILBOX,
                   security=settings.INTAKE_IMAP_SECURITY, ca_file=settings.INTAKE_IMAP_CA_FILE)

    @property
    def cursor_key(self) -> str:
        return f"{self.user}@{self.host}:{self.port}/{self.mailbox}"[:200]


@dataclass
class PollResult:
    new: int = 0  # messages registered now
    aside: int = 0  # of those, kept aside (auto-replies, newsletters…)
    already: int = 0  # fetched again but registered before (a poll cut after storing, a repeated Message-ID)
    left: int = 0  # could not be stored: tried again at the next poll
    error: str = ""  # why the poll stopped early (connection, login…), in Spanish

    def as_dict(self) -> dict:
        return {"new": self.new, "aside": self.aside, "already": self.already, "left": self.left,
                "error": self.error}


# --------------------------------------------------------------------------- connection


def _quoted(mailbox: str) -> str:
    """A mailbox name as IMAP wants it: modified UTF-7 (RFC 3501 §5.1.3: "Año" is "A&APE-o"), quoted."""
    encoded, pending = [], []

    def flush():
        if pending:
            data = "".join(pending).encode("utf-16-be")
            encoded.append("&" + base64.b64encode(data).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for char in mailbox:
        if " " <= char <= "~":
            flush()
            encoded.append("&-" if char == "&" else char)
        else:
            pending.append(char)
    flush()
    return '"' + "".join(encoded).replace("\\", "\\\\").replace('"', '\\"') + '"'


def connect(config: MailboxConfig) -> imaplib.IMAP4:
    """A logged-in connection, always encrypted: direct TLS, or STARTTLS before the password is sent."""
    context = ssl.create_default_context(cafile=config.ca_file or None)
    try:
        if config.security == "starttls":
            client = imaplib.IMAP4(config.host, config.port, timeout=TIMEOUT_SECONDS)
            try:
                client.starttls(ssl_context=context)
            except imaplib.IMAP4.error:
                client.shutdown()
                raise MailboxError(_("El servidor de correo no ofrece STARTTLS; la contraseña no se envía sin "
                                     "cifrar. Use INTAKE_IMAP_SECURITY=ssl o un servidor con TLS.")) from None
        else:
            client = imaplib.IMAP4_SSL(config.host, config.port, ssl_context=context, timeout=TIMEOUT_SECONDS)
    except ssl.SSLCertVerificationError as error:
        raise MailboxError(_("No se pudo comprobar el certificado del servidor de correo (%(reason)s). Si usa una "
                             "autoridad propia, indíquela en INTAKE_IMAP_CA_FILE.")
                           % {"reason": error.verify_message or error.reason}) from None
    except (OSError, imaplib.IMAP4.error) as error:
        raise MailboxError(_("No se pudo conectar con el servidor de correo %(host)s:%(port)s (%(reason)s).")
                           % {"host": config.host, "port": config.port, "reason": describe(error)}) from None
    try:
        client.login(config.user, config.password)
    except imaplib.IMAP4.error:
        client.shutdown()
        raise MailboxError(_("El servidor de correo rechazó el usuario o la contraseña (INTAKE_IMAP_USER, "
                             "INTAKE_IMAP_PASSWORD).")) from None
    return client


def describe(error: BaseException) -> str:
    text = clean_text(str(error)) or type(error).__name__
    return text[:150]


def _select(client: imaplib.IMAP4, mailbox: str) -> int:
    """Opens the mailbox for writing (flags are stored) and returns its UIDVALIDITY."""
    status, data = client.select(_quoted(mailbox))
    if status != "OK":
        raise MailboxError(_("El buzón «%(mailbox)s» no existe en el servidor de correo (INTAKE_IMAP_MAILBOX).")
                           % {"mailbox": mailbox})
    _name, values = client.response("UIDVALIDITY")
    try:
        return int(values[0])
    except (TypeError, ValueError, IndexError):
        raise MailboxError(_("El servidor de correo no dio el UIDVALIDITY del buzón.")) from None


def _new_uids(client: imaplib.IMAP4, last_uid: int) -> list[int]:
    """UIDs above the cursor that do not carry our keyword yet, oldest first."""
    status, data = client.uid("SEARCH", f"UID {last_uid + 1}:*", "UNKEYWORD", KEYWORD)
    if status != "OK":
        raise MailboxError(_("El servidor de correo no respondió a la búsqueda de mensajes nuevos."))
    # "n:*" always includes the highest UID, even when it is below n.
    return sorted(uid for uid in map(int, b" ".join(d for d in data if d).split()) if uid > last_uid)


def _sizes(client: imaplib.IMAP4, uids: list[int]) -> dict[int, tuple[int, bool]]:
    """{uid: (size, already marked)} for the given UIDs; a UID missing from the answer was expunged meanwhile."""
    found = {}
    for start in range(0, len(uids), SEARCH_CHUNK):
        chunk = ",".join(map(str, uids[start:start + SEARCH_CHUNK]))
        status, data = client.uid("FETCH", chunk, "(UID RFC822.SIZE FLAGS)")
        if status != "OK":
            raise MailboxError(_("El servidor de correo no respondió al pedir los mensajes nuevos."))
        for line in data:
            line = line[0] if isinstance(line, tuple) else line
            uid, size, flags = FETCH_LINE.search(line or b""), SIZE.search(line or b""), FLAGS.search(line or b"")
            if uid:
                marked = bool(flags) and KEYWORD.lower().encode() in flags.group(1).lower().split()
                found[int(uid.group(1))] = (int(size.group(1)) if size else 0, marked)
    return found


def _fetch(client: imaplib.IMAP4, uid: int, headers_only: bool) -> bytes | None:
    """The message's bytes (None when it vanished). PEEK: fetching leaves \\Seen as it was."""
    section = "BODY.PEEK[HEADER]" if headers_only else "BODY.PEEK[]"
    status, data = client.uid("FETCH", str(uid), f"(UID {section})")
    if status != "OK":
        raise MailboxError(_("El servidor de correo no entregó un mensaje."))
    for item in data:
        if isinstance(item, tuple) and b"BODY[" in item[0]:
            found = FETCH_LINE.search(item[0])
            if found and int(found.group(1)) == uid:  # not another message's unsolicited update
                return item[1]
    return None


def _mark(client: imaplib.IMAP4, uid: int) -> None:
    status, _data = client.uid("STORE", str(uid), "+FLAGS.SILENT", rf"({KEYWORD} \Seen)")
    if status != "OK":
        raise MailboxError(_("El servidor de correo no aceptó marcar un mensaje como registrado."))


# --------------------------------------------------------------------------- one message


def _store(uid: int, raw: bytes, whole: bool) -> tuple[str, bool]:
    """Registers the fetched bytes; returns ("new" | "already" | "left", aside)."""
    incoming = parse_email(raw)
    if not whole:
        incoming.problems.append(_("El correo es demasiado grande para guardarlo aquí; solo se registraron sus "
                                   "datos. Ábralo completo en el buzón de la oficina."))
    try:
        message, created = record_incoming(incoming)
    except Exception as error:  # noqa: BLE001 - one bad message must not hold up the others
        log.warning("e-mail UID %s from %s could not be stored whole (%s); storing it as it came",
                    uid, mask_email(incoming.sender_address), describe(error))
        try:
            message, created = record_incoming(_as_it_came(incoming, error))
        except Exception as again:  # noqa: BLE001
            log.error("e-mail UID %s left for the next poll: %s", uid, describe(again))
            return "left", False
    if created:
        log.info("e-mail UID %s from %s registered%s", uid, mask_email(message.sender_address),
                 " (kept aside)" if incoming.aside_reason else "")
        return "new", bool(incoming.aside_reason)
    return "already", False


def _as_it_came(incoming: Incoming, error: Exception) -> Incoming:
    """The same message with only what cannot fail to store: who, when, the subject and the original bytes."""
    return Incoming(
        source=incoming.source, external_id=incoming.external_id, sender_address=incoming.sender_address[:254],
        sender_name=incoming.sender_name, subject=incoming.subject, sent_at=incoming.sent_at, raw=incoming.raw,
        aside_reason=incoming.aside_reason, replies_to=incoming.replies_to,
        problems=[*incoming.problems,
                  _("No se pudo guardar el texto ni los archivos de este correo (%(reason)s); el original completo "
                    "está en el archivo .eml.") % {"reason": type(error).__name__}],
    )


# --------------------------------------------------------------------------- the poll


def _cursor(config: MailboxConfig, uidvalidity: int) -> MailboxCursor:
    cursor, _created = MailboxCursor.objects.get_or_create(mailbox=config.cursor_key)
    if cursor.uidvalidity != uidvalidity:
        if cursor.uidvalidity:
            log.warning("mailbox UIDVALIDITY changed: reading it again from the start (duplicates are recognised)")
        cursor.uidvalidity, cursor.last_uid = uidvalidity, 0
        cursor.save(update_fields=["uidvalidity", "last_uid"])
    return cursor


def _advance(cursor: MailboxCursor, uid: int) -> None:
    """Only forward, and only under the same UIDVALIDITY: two polls at once cannot move it back."""
    MailboxCursor.objects.filter(pk=cursor.pk, uidvalidity=cursor.uidvalidity, last_uid__lt=uid).update(last_uid=uid)
    cursor.last_uid = max(cursor.last_uid, uid)


def _read(client: imaplib.IMAP4, config: MailboxConfig, result: PollResult) -> None:
    cursor = _cursor(config, _select(client, config.mailbox))
    uids = _new_uids(client, cursor.last_uid)
    known = _sizes(client, uids) if uids else {}
    limit = settings.INTAKE_MAX_ATTACHMENT_BYTES * HEADERS_ONLY_FACTOR
    all_done_so_far = True  # every UID up to this one is marked: the cursor may follow
    for uid in uids:
        size, marked = known.get(uid, (0, True))  # missing: expunged since the search
        raw = None if marked else _fetch(client, uid, headers_only=size > limit)
        outcome = "gone"
        if raw is not None:
            outcome, aside = _store(uid, raw, whole=size <= limit)
            if outcome != "left":
                _mark(client, uid)
            result.aside += aside
        if outcome == "left":
            result.left += 1
            all_done_so_far = False
            continue
        result.new += outcome == "new"
        result.already += outcome == "already"
        if all_done_so_far:
            _advance(cursor, uid)


def mailbox_poll(config: MailboxConfig | None = None) -> PollResult:
    """Reads the new messages once. Never raises for the mailbox's sake: a failure is in ``result.error``."""
    config = config or MailboxConfig.from_settings()
    result = PollResult()
    if not config.host:
        result.error = _("El buzón de la oficina no está configurado (INTAKE_IMAP_HOST).")
        return result
    if transaction.get_connection().in_atomic_block:
        # A message is marked on the server once it is committed here; inside a transaction it would not be yet.
        raise RuntimeError("mailbox_poll must run outside a database transaction")
    client = None
    try:
        client = connect(config)
        _read(client, config, result)
    except MailboxError as error:
        result.error = error.message
    except (OSError, EOFError, imaplib.IMAP4.error) as error:
        result.error = _("Se cortó la conexión con el servidor de correo (%(reason)s); lo que faltó se lee en la "
                         "próxima revisión.") % {"reason": describe(error)}
    finally:
        if client is not None:
            _close(client)
    if result.error:
        log.warning("mailbox poll stopped: %s", result.error)
    MailboxCursor.objects.update_or_create(
        mailbox=config.cursor_key, defaults={"polled_at": timezone.now(), "last_error": result.error[:300]})
    return result


def _close(client: imaplib.IMAP4) -> None:
    try:
        client.logout()
    except (OSError, EOFError, imaplib.IMAP4.error):
        try:
            client.shutdown()
        except OSError:
            pass
