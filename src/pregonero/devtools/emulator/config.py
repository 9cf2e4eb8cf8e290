"""Configuration of the WhatsApp Cloud API emulator: one dataclass, defaults from Django settings when present."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace

# Suffix conventions (digits only, see README of the emulator in __init__) so any test or demo can script a
# recipient just by choosing its number; random demo numbers practically never end in five zeros and a digit.
DEFAULT_RECIPIENT_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"000001$", "not_on_whatsapp"),
    (r"000002$", "marketing_limit"),
    (r"000003$", "opted_out"),
    (r"000004$", "experiment"),
    (r"000005$", "read_without_delivered"),
    (r"000006$", "out_of_order"),
    (r"000007$", "duplicate_deliveries"),
    (r"000008$", "unread"),
)

BEHAVIOURS = frozenset(
    {"ok", "not_on_whatsapp", "marketing_limit", "opted_out", "experiment", "read_without_delivered",
     "out_of_order", "duplicate_deliveries", "unread"}
)

TIMEOUT_MODES = ("accepted", "rejected")


@dataclass
class EmulatorConfig:
    """Everything the emulator can be told. Times are real seconds: tests compress time by passing small values."""

    # Identity and secrets (the same names as the Django settings the real client reads).
    token: str = "emulator-token"
    app_secret: str = "emulator-app-secret"
    verify_token: str = "emulator-verify-token"
    phone_number_id: str = "106540352242922"
    display_phone_number: str = "529981234567"
    waba_id: str = "102290129340398"
    callback_url: str | None = "http://127.0.0.1:8000/webhooks/whatsapp/"
    # Where the seeded templates' «Ver invitación» button points (Pregonero's SITE_URL under `make run`).
    site_url: str = "https://invitaciones.example"

    # Listening address; port 0 picks a free port (embedded mode in tests).
    host: str = "127.0.0.1"
    port: int = 0

    # Throughput limits (§4 of the reference).
    rate: float = 80.0
    burst: float | None = None  # token bucket capacity; None means one second's worth of `rate`
    pair_limit: bool = True
    pair_interval: float = 6.0
    pair_burst: int = 45
    daily_limit: int | None = 250  # unique users reached outside a window in a moving 24 h; None disables
    # No code is documented for the messaging limit (reference §4); 131048 is the closest ("restrictions on how many
    # messages can be sent from this phone number") and makes a correct sender stop rather than retry.
    daily_limit_code: int = 131048

    # The 24 h customer service window: "sync" answers 131047 at once, "async" accepts and fails by webhook.
    window_error_mode: str = "sync"
    window_seconds: float = 24 * 3600

    # Status webhooks.
    statuses: bool = True
    sent_delay: float = 0.05
    delivered_delay: float = 0.3
    read_delay: float = 1.5
    read_probability: float = 1.0
    batch_probability: float = 0.0  # chance that a POST carries several pending statuses
    batch_max: int = 10
    batch_window: float = 0.02  # how long a batching sender waits for more events
    duplicate_probability: float = 0.0  # chance that a delivered POST is delivered again later
    webhook_retry_delay: float = 0.05  # first retry delay; doubled each attempt (Meta's hours compressed)
    webhook_max_attempts: int = 6
    webhook_timeout: float = 5.0
    webhook_concurrency: int = 4
    webhook_queue_size: int = 10000

    # Fault injection.
    transient_error_rate: float = 0.0  # 131000 / 131016 at random
    timeout_rate: float = 0.0  # the request is held for `timeout_hold` seconds
    timeout_hold: float = 30.0
    timeout_mode: str = "accepted"  # "accepted": logged and sent, answered late; "rejected": never accepted

    # Realism switches.
    mx_521_quirk: bool = True
    block_us_marketing: bool = True  # marketing templates to +1 numbers fail with 131049 (reference §4)
    recipient_patterns: tuple[tuple[str, str], ...] = DEFAULT_RECIPIENT_PATTERNS
    recipients: dict[str, str] = field(default_factory=dict)  # exact number (digits) -> behaviour
    extra_templates: list[dict] = field(default_factory=list)
    seed: int | None = None
    # Every accepted message is appended to this file as one JSON line (None: kept in memory only).
    log_path: str | None = None

    def __post_init__(self) -> None:
        if self.timeout_mode not in TIMEOUT_MODES:
            raise ValueError(f"timeout_mode must be one of {TIMEOUT_MODES}")
        if self.window_error_mode not in ("sync", "async"):
            raise ValueError("window_error_mode must be 'sync' or 'async'")
        for pattern, behaviour in self.recipient_patterns:
            re.compile(pattern)
            check_behaviour(behaviour)
        for behaviour in self.recipients.values():
            check_behaviour(behaviour)

    @property
    def bucket_capacity(self) -> float:
        return self.burst if self.burst is not None else max(self.rate, 1.0)

    def updated(self, **changes) -> EmulatorConfig:
        return replace(self, **changes)

    @classmethod
    def from_settings(cls, **overrides) -> EmulatorConfig:
        """Defaults taken from Django settings when configured, so the emulator matches the client's credentials."""
        values = {}
        try:
            from django.conf import settings

            settings_names = {
                "token": "WHATSAPP_TOKEN",
                "app_secret": "WHATSAPP_APP_SECRET",
                "verify_token": "WHATSAPP_VERIFY_TOKEN",
                "phone_number_id": "WHATSAPP_PHONE_NUMBER_ID",
                "waba_id": "WHATSAPP_WABA_ID",
            }
            for name, setting in settings_names.items():
                value = getattr(settings, setting, None)
                if value:
                    values[name] = str(value)
            site_url = getattr(settings, "SITE_URL", None)
            if site_url:
                values["callback_url"] = site_url.rstrip("/") + "/webhooks/whatsapp/"
                values["site_url"] = site_url.rstrip("/")
        except Exception:  # noqa: BLE001 - settings not configured: plain defaults are right for a standalone run
            values = {}
        values.update(overrides)
        return cls(**values)


def check_behaviour(behaviour: str) -> str:
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown recipient behaviour {behaviour!r}; known: {sorted(BEHAVIOURS)}")
    return behaviour


# Fields that may be changed while the emulator runs (POST /_emulator/config); identity stays fixed.
RUNTIME_FIELDS = frozenset(
    f.name for f in fields(EmulatorConfig)
    if f.name not in {"host", "port", "phone_number_id", "waba_id", "display_phone_number", "seed",
                      "recipient_patterns", "recipients", "extra_templates", "log_path",
                      # The sender pool, its queue and session are built once at start.
                      "webhook_concurrency", "webhook_queue_size", "webhook_timeout"}
)
