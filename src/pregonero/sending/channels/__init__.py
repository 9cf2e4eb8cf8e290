"""Sending channels. The engine looks a channel up by name here and only talks to it through ``Channel``.

Add a channel by writing a ``Channel`` subclass in its own module and listing it in ``CHANNELS``.
"""

from .base import Channel, SendError, SendResult
from .whatsapp import WhatsAppClient, WhatsAppConfig

CHANNELS: dict[str, type[Channel]] = {
    "whatsapp": WhatsAppClient,
}

__all__ = ["CHANNELS", "Channel", "SendError", "SendResult", "WhatsAppClient", "WhatsAppConfig"]
