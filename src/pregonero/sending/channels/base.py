"""What every sending channel shares: one entry point, one result, one error that says what to do next.

The sending engine only ever sees ``Channel.send``, ``SendResult`` and ``SendError``; how a provider talks
(HTTP, SMTP) and how it words its failures stays inside each channel module.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar


def mask_phone(number: str) -> str:
    """Keep only the last four digits: enough to tell log lines apart, not to contact anybody."""
    digits = "".join(ch for ch in str(number) if ch.isdigit())
    return f"***{digits[-4:]}" if len(digits) > 4 else "***"


def redact_numbers(text: str) -> str:
    """Provider messages may echo the recipient; mask any long digit run before it reaches a log or the DB."""
    return re.sub(r"\+?\d{7,}", lambda match: mask_phone(match.group()), text)


def mask_email(address: str) -> str:
    """Keep the first letter and the domain: ``m***@example.com``."""
    local, _at, domain = str(address).rpartition("@")
    return f"{local[:1]}***@{domain}" if local else "***"


EMAIL_PATTERN = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def redact_emails(text: str) -> str:
    return EMAIL_PATTERN.sub(lambda match: mask_email(match.group()), text)


class SendError(Exception):
    """A send that did not end in "accepted", classified so the engine knows what to do with the message.

    ``kind`` is one of:

    * ``"transient"``: nothing was delivered and trying again later may work (throttling, provider hiccup,
      connection refused before the request left). Retry with backoff, waiting at least ``retry_after``.
    * ``"permanent"``: this message to this recipient will never work as it is (not on WhatsApp, opted out,
      bad template parameters). Mark it failed and show ``reason``.
    * ``"account"``: nothing from this sender will work until a person acts (token expired, account or template
      blocked, spam limit). Pause the campaign and alert the office.
    * ``"unknown"``: the request may have reached the provider (timeout or dropped connection after it was
      written). The provider may have accepted it, so retrying blindly can send it twice: reconcile from the
      status webhooks (``biz_opaque_callback_data`` carries our message id) before retrying.
    """

    TRANSIENT: ClassVar[str] = "transient"
    PERMANENT: ClassVar[str] = "permanent"
    ACCOUNT: ClassVar[str] = "account"
    UNKNOWN: ClassVar[str] = "unknown"
    KINDS: ClassVar[frozenset[str]] = frozenset({TRANSIENT, PERMANENT, ACCOUNT, UNKNOWN})

    def __init__(
        self,
        *,
        kind: str,
        reason: str,
        code: int | str | None = None,
        retry_after: float | None = None,
        http_status: int | None = None,
        detail: str = "",
    ) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"unknown SendError kind {kind!r}")
        # str() resolves lazy translations now, so the error pickles and stores as plain text.
        self.kind = kind
        self.reason = str(reason)
        self.code = code
        self.retry_after = retry_after
        self.http_status = http_status
        self.detail = detail
        super().__init__(f"[{kind}{f' {code}' if code is not None else ''}] {self.reason}")

    def __reduce__(self):
        # Keyword-only __init__ breaks Exception's default pickling; engines may hand errors across processes.
        fields = ("kind", "reason", "code", "retry_after", "http_status", "detail")
        return (_rebuild_send_error, ({name: getattr(self, name) for name in fields},))

    @property
    def retryable(self) -> bool:
        """True only when resending cannot cause a duplicate and may succeed."""
        return self.kind == self.TRANSIENT


def _rebuild_send_error(state: dict) -> SendError:
    return SendError(**state)


@dataclass
class SendResult:
    """The provider accepted the message. Delivery (or a late failure) is reported later, e.g. by webhook.

    ``provider_id`` is what later status reports refer to (WhatsApp's ``wamid``, an e-mail's Message-ID).
    ``recipient_id`` is the provider's normalised address when it differs from what we sent (WhatsApp's
    ``wa_id``, e.g. Mexico's extra ``1``); ``provider_status`` is the provider's own word for the acceptance
    (WhatsApp: ``accepted``, ``held_for_quality_assessment`` or ``paused``).
    """

    provider_id: str
    accepted_at: datetime
    raw: dict = field(default_factory=dict)
    recipient_id: str = ""
    provider_status: str = ""


class Channel(ABC):
    """One way of reaching a person. Subclasses are listed in ``pregonero.sending.channels.CHANNELS``.

    A channel instance may hold connections, so use it as ``async with`` (or call ``aclose``) and share one
    instance among all concurrent sends of a worker.
    """

    name: ClassVar[str]

    @classmethod
    def from_settings(cls) -> Channel:
        """The channel as configured in Django settings; lets the engine build any entry of ``CHANNELS``."""
        raise NotImplementedError

    @abstractmethod
    async def send(self, message_payload: Any) -> SendResult:
        """Hand one already rendered message to the provider.

        Returns when the provider accepted it; raises ``SendError`` otherwise. Never retries on its own:
        retry policy belongs to the engine, which knows about attempts, campaigns and quiet hours.
        """

    async def aclose(self) -> None:
        """Release connections. Channels without any keep this no-op."""

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()
