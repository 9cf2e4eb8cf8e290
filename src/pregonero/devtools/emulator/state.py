"""Everything the emulator remembers: accepted messages, windows, opt-outs, scripted recipients, faults, limits.

All mutation happens on the emulator's event loop; other threads only read copies (see server.EmulatorServer).
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
from collections import Counter, deque
from dataclasses import dataclass, field

from .config import RUNTIME_FIELDS, EmulatorConfig, check_behaviour
from .limits import Clock, DailyRecipients, PairLimiter, TokenBucket
from .templates import TemplateStore, seeded

NON_DIGITS = re.compile(r"\D")


def digits(number: str) -> str:
    return NON_DIGITS.sub("", str(number))


def mask(number: str | None) -> str:
    """Phone numbers are personal data: logs keep only the last four digits."""
    only_digits = digits(number or "")
    return f"***{only_digits[-4:]}" if only_digits else "***"


@dataclass
class LoggedMessage:
    """One accepted send, as tests need it to count duplicates and find the wamid to tap on."""

    wamid: str
    to: str
    wa_id: str
    type: str
    request: dict
    timestamp: float
    api_version: str
    category: str | None = None  # template category, lower case; None for free-form messages
    # Per template button index: {"text", "payload", "type"}, and "url" for a URL button with its suffix filled in.
    quick_replies: list[dict] = field(default_factory=list)
    interactive_buttons: list[dict] = field(default_factory=list)  # {"id", "title"}
    statuses: list[str] = field(default_factory=list)  # statuses queued for the webhook, in emission order

    @property
    def biz_opaque_callback_data(self) -> str | None:
        return self.request.get("biz_opaque_callback_data")

    def as_json(self) -> dict:
        return {
            "id": self.wamid, "to": self.to, "wa_id": self.wa_id, "type": self.type, "timestamp": self.timestamp,
            "biz_opaque_callback_data": self.biz_opaque_callback_data, "request": self.request,
            "statuses": list(self.statuses),
            # The addresses of its URL buttons as the guest would open them (the personal page, under make run).
            "links": [button["url"] for button in self.quick_replies if button.get("url")],
        }


@dataclass
class Media:
    id: str
    content: bytes
    mime_type: str
    filename: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    def as_json(self, url: str) -> dict:
        return {"messaging_product": "whatsapp", "url": url, "mime_type": self.mime_type,
                "sha256": self.sha256, "file_size": len(self.content), "id": self.id}


@dataclass
class Fault:
    code: int
    status: int | None
    remaining: int


class EmulatorState:
    def __init__(self, config: EmulatorConfig):
        self.config = config
        self.log_file = None  # the JSONL log, opened on the first accepted message; reset() keeps appending
        self.clock = Clock()
        self.reset()

    def reset(self) -> None:
        config = self.config
        self.rng = random.Random(config.seed)
        self.templates = TemplateStore([*seeded(config.site_url), *config.extra_templates])
        self.media: dict[str, Media] = {}
        self.log: list[LoggedMessage] = []
        self.by_wamid: dict[str, LoggedMessage] = {}
        self.windows: dict[str, float] = {}
        self.opted_out: set[str] = set()
        self.recipients = {digits(number): check_behaviour(b) for number, b in config.recipients.items()}
        self.patterns = [(re.compile(pattern), behaviour) for pattern, behaviour in config.recipient_patterns]
        self.faults: deque[Fault] = deque()
        self.media_faults: deque[int] = deque()  # HTTP statuses for the next media downloads, one each
        self.token = config.token
        self.token_expired = False
        self.stats: Counter = Counter()
        self._build_limits()

    def _build_limits(self) -> None:
        config = self.config
        self.bucket = TokenBucket(config.rate, config.bucket_capacity, self.clock)
        self.pairs = PairLimiter(config.pair_interval, config.pair_burst, self.clock)
        self.daily = DailyRecipients(config.daily_limit, self.clock)

    def apply_config(self, changes: dict) -> EmulatorConfig:
        unknown = set(changes) - RUNTIME_FIELDS
        if unknown:
            raise ValueError(f"not changeable at run time: {sorted(unknown)}")
        self.config = self.config.updated(**changes)
        if changes.keys() & {"rate", "burst", "pair_interval", "pair_burst", "daily_limit"}:
            self._build_limits()
        if "token" in changes:
            self.token, self.token_expired = self.config.token, False
        return self.config

    # Identities ---------------------------------------------------------------------------------------------

    def wa_id_for(self, number: str) -> str:
        """The WhatsApp ID a real number maps to; Mexican mobiles gain the extra 1 when the quirk is on (§5.9)."""
        number = digits(number)
        if self.config.mx_521_quirk and number.startswith("52") and len(number) == 12:
            return "521" + number[2:]
        if not self.config.mx_521_quirk and number.startswith("521") and len(number) == 13:
            return "52" + number[3:]
        return number

    def behaviour_for(self, number: str) -> str:
        for candidate in (digits(number), self.wa_id_for(number)):
            if candidate in self.recipients:
                return self.recipients[candidate]
        for pattern, behaviour in self.patterns:
            if pattern.search(digits(number)):
                return behaviour
        return "ok"

    def script_recipient(self, number: str, behaviour: str) -> None:
        self.recipients[digits(number)] = check_behaviour(behaviour)

    def new_wamid(self) -> str:
        # Real ids are base64 with "+", "/" and "=" in them; clients must treat them as opaque (reference §1).
        raw = b"\x15\x02\x00\x11\x18\x12" + self.rng.randbytes(18)
        return "wamid." + base64.b64encode(raw).decode()

    def new_numeric_id(self) -> str:
        return str(self.rng.randrange(10**15, 10**16))

    # Customer service window and opt-outs -------------------------------------------------------------------

    def open_window(self, wa_id: str) -> None:
        self.windows[wa_id] = self.clock.wall()

    def window_open(self, wa_id: str) -> bool:
        opened = self.windows.get(wa_id)
        return opened is not None and self.clock.wall() - opened < self.config.window_seconds

    # Faults -------------------------------------------------------------------------------------------------

    def add_fault(self, code: int, count: int = 1, status: int | None = None) -> None:
        self.faults.append(Fault(code=code, status=status, remaining=count))

    def take_fault(self) -> Fault | None:
        """The next scripted fault, consumed one send at a time."""
        while self.faults and self.faults[0].remaining <= 0:
            self.faults.popleft()
        if not self.faults:
            return None
        fault = self.faults[0]
        fault.remaining -= 1
        return fault

    def fail_media_downloads(self, count: int = 1, status: int = 500) -> None:
        self.media_faults.extend([status] * count)

    def take_media_fault(self) -> int | None:
        return self.media_faults.popleft() if self.media_faults else None

    def roll(self, probability: float) -> bool:
        return probability > 0 and self.rng.random() < probability

    # Message log --------------------------------------------------------------------------------------------

    def record(self, message: LoggedMessage) -> None:
        if self.config.log_path:
            if self.log_file is None:
                self.log_file = open(self.config.log_path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
            self.log_file.write(json.dumps(message.as_json(), ensure_ascii=False) + "\n")
        self.log.append(message)
        self.by_wamid[message.wamid] = message
        self.stats["accepted"] += 1

    def messages(self, to: str | None = None) -> list[LoggedMessage]:
        snapshot = list(self.log)
        if to is None:
            return snapshot
        wa_id = self.wa_id_for(to)
        return [m for m in snapshot if m.wa_id == wa_id]

    def count_by_recipient(self) -> Counter:
        return Counter(m.wa_id for m in list(self.log))

    def count_by_callback_data(self) -> Counter:
        return Counter(m.biz_opaque_callback_data for m in list(self.log) if m.biz_opaque_callback_data)
