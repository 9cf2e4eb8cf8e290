"""The embedded local mail sink: an SMTP server on loopback that keeps every message in the database.

In embedded mode (no ``EMAIL_HOST``) Django delivers over real SMTP to this sink, so the sending code path is
the one production uses; staff then read the caught messages in the browser (``devtools.views``).
"""

import email
import logging
from email import policy

from aiosmtpd.controller import Controller
from asgiref.sync import sync_to_async
from django.db import close_old_connections

from .models import SinkMessage

logger = logging.getLogger(__name__)

SUBJECT_MAX_LENGTH = SinkMessage._meta.get_field("subject").max_length
MAIL_FROM_MAX_LENGTH = SinkMessage._meta.get_field("mail_from").max_length


def decode_subject(raw: bytes) -> str:
    """The Subject header as text, RFC 2047 encoded words decoded; '' when missing or unreadable."""
    try:
        subject = email.message_from_bytes(raw, policy=policy.default).get("Subject", "")
        return " ".join(str(subject).split())[:SUBJECT_MAX_LENGTH]
    except Exception:  # noqa: BLE001 - a malformed header from any sender must not lose the whole message
        logger.warning("Could not decode the Subject of a caught message; storing it without one")
        return ""


def store_message(mail_from: str, recipients: list[str], raw: bytes) -> int:
    """Save one caught message and return its id. Runs in a worker thread (see SinkHandler)."""
    # The sink runs for days: drop a connection the database server may have closed meanwhile, and
    # release ours afterwards so an idle sink holds none.
    close_old_connections()
    try:
        message = SinkMessage.objects.create(
            mail_from=mail_from[:MAIL_FROM_MAX_LENGTH],
            recipients=", ".join(recipients),
            subject=decode_subject(raw),
            raw=raw,
        )
    finally:
        close_old_connections()
    return message.pk


class SinkHandler:
    """aiosmtpd handler: every message accepted is stored as a SinkMessage; nothing is relayed."""

    async def handle_DATA(self, server, session, envelope) -> str:
        raw = envelope.original_content or b""
        try:
            # The ORM is synchronous; sync_to_async keeps it off the SMTP event loop.
            message_id = await sync_to_async(store_message)(envelope.mail_from or "", list(envelope.rcpt_tos), raw)
        except Exception:
            logger.exception("Could not store a caught message (%d recipients)", len(envelope.rcpt_tos))
            # A temporary failure makes Django's send report an error instead of losing the message silently.
            return "451 4.3.0 Could not store the message, try again later"
        # Addresses are personal data: log only the id and the count.
        logger.info("Caught message %s for %d recipients", message_id, len(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def start_sink(host: str, port: int) -> Controller:
    """Start the sink in a background thread; call ``.stop()`` on the returned controller to end it."""
    # aiosmtpd logs every MAIL FROM / RCPT TO address at INFO on "mail.log"; addresses must not reach logs.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    controller = Controller(SinkHandler(), hostname=host, port=port, enable_SMTPUTF8=True)
    controller.start()
    return controller
