"""Sending channels. The engine looks a channel up by name here and only talks to it through ``Channel``.

Add a channel by writing a ``Channel`` subclass in its own module and listing it in ``CHANNELS``.
"""

from .base import Channel, SendError, SendResult
from .email import EmailChannel
from .whatsapp import WhatsAppClient, WhatsAppConfig

CHANNELS: dict[str, type[Channel]] = {
    "whatsapp": WhatsAppClient,
    "email": EmailChannel,
}

__all__ = ["CHANNELS", "Channel", "EmailChannel", "SendError", "SendResult", "WhatsAppClient", "WhatsAppConfig"]
