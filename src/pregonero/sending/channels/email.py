"""E-mail through Django's mail (the configured SMTP server), one message per call.

The message's ``public_id`` is its Message-ID, so a bounce or a reply can be matched back to the row.
SMTP is blocking, so ``send`` runs it in a thread and the dispatcher can await it next to WhatsApp sends.
"""

from __future__ import annotations

import asyncio
import smtplib
import socket
from datetime import UTC, datetime

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.urls import reverse
from django.utils import translation
from django.utils.html import escape, urlize
from django.utils.translation import gettext as _

from .base import Channel, SendError, SendResult

MESSAGE_ID_DOMAIN = "pregonero"


def message_id(public_id: str) -> str:
    return f"<{public_id}@{MESSAGE_ID_DOMAIN}>"


def html_body(text: str) -> str:
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    rendered = "".join(f"<p>{urlize(escape(p)).replace(chr(10), '<br>')}</p>" for p in paragraphs)
    return f'<!doctype html><html lang="es"><body style="font-family:sans-serif">{rendered}</body></html>'


def unsubscribe_header(payload: dict) -> str:
    address = getattr(settings, "UNSUBSCRIBE_EMAIL", "") or settings.DEFAULT_FROM_EMAIL.rsplit("<", 1)[-1].rstrip(">")
    links = [f"<mailto:{address}?subject=BAJA>"]
    if payload.get("rsvp_url"):
        links.append(f"<{payload['rsvp_url']}/baja>")
    return ", ".join(links)


def privacy_footer(payload: dict) -> str:
    """Every e-mail to a guest ends with the simplified privacy notice and the way to opt out (DESIGN §7)."""
    with translation.override(settings.LANGUAGE_CODE):  # guests hear from the office in Spanish
        lines = [_("Aviso de privacidad: %(url)s") % {"url": settings.SITE_URL + reverse("rsvp:privacy")}]
        if payload.get("rsvp_url"):
            lines.append(_("Para no recibir más invitaciones: %(url)s") % {"url": f"{payload['rsvp_url']}/baja"})
    return "\n".join(lines)


def build_email(payload: dict) -> EmailMultiAlternatives:
    """``payload``: to, subject, text, optional rsvp_url; ``public_id`` is added by the dispatcher."""
    text = f"{payload['text'].rstrip()}\n\n{privacy_footer(payload)}\n"
    message = EmailMultiAlternatives(
        subject=payload["subject"], body=text, to=[payload["to"]],
        headers={"Message-ID": message_id(payload["public_id"]), "List-Unsubscribe": unsubscribe_header(payload)},
    )
    message.attach_alternative(html_body(text), "text/html")
    return message


def classify_smtp(exc: BaseException) -> SendError:
    """What an SMTP failure means for the message: see ``SendError`` for the kinds."""
    detail = f"{type(exc).__name__}: {exc}"[:300]
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return SendError(kind=SendError.PERMANENT, reason=_("El servidor de correo rechazó la dirección."),
                         detail=detail)
    if isinstance(exc, (smtplib.SMTPAuthenticationError, smtplib.SMTPSenderRefused)):
        return SendError(kind=SendError.ACCOUNT, reason=_("El servidor de correo no acepta nuestra cuenta."),
                         code=getattr(exc, "smtp_code", None), detail=detail)
    if isinstance(exc, (smtplib.SMTPConnectError, ConnectionRefusedError)):
        return SendError(kind=SendError.TRANSIENT, reason=_("No se pudo conectar con el servidor de correo."),
                         detail=detail, retry_after=60)
    if isinstance(exc, smtplib.SMTPResponseException) and 400 <= exc.smtp_code < 500:
        return SendError(kind=SendError.TRANSIENT, reason=_("El servidor de correo pidió reintentar más tarde."),
                         code=exc.smtp_code, detail=detail, retry_after=60)
    if isinstance(exc, smtplib.SMTPResponseException):
        return SendError(kind=SendError.PERMANENT, reason=_("El servidor de correo rechazó el mensaje."),
                         code=exc.smtp_code, detail=detail)
    if isinstance(exc, (smtplib.SMTPServerDisconnected, socket.timeout, TimeoutError, OSError)):
        # The message may have been handed over before the connection dropped: do not resend blindly.
        return SendError(kind=SendError.UNKNOWN, reason=_("Se perdió la conexión con el servidor de correo."),
                         detail=detail)
    return SendError(kind=SendError.PERMANENT, reason=_("Error inesperado al enviar el correo."), detail=detail)


class EmailChannel(Channel):
    name = "email"

    @classmethod
    def from_settings(cls) -> EmailChannel:
        return cls()

    def send_now(self, message_payload: dict) -> SendResult:
        try:
            build_email(message_payload).send()
        except (smtplib.SMTPException, OSError) as exc:
            raise classify_smtp(exc) from exc
        return SendResult(provider_id=message_id(message_payload["public_id"]), accepted_at=datetime.now(UTC))

    async def send(self, message_payload: dict) -> SendResult:
        return await asyncio.to_thread(self.send_now, message_payload)
