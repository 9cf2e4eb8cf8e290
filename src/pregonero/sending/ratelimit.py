"""Shared sending pace per sender: every worker books its slots in one row, so together they keep the limit.

A sender is a WhatsApp phone number id (80 msg/s by default, up to 1,000: reference §4) or an SMTP server. Its
``SenderLimit`` row holds the next free slot; a worker books a run of evenly spaced slots under the row lock and
sends each message at its slot. Slots are wall-clock seconds, so workers on several machines need synchronised
clocks (NTP), as any server does. A worker that dies leaves its booked slots unused: the pace only slows.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.db import transaction

from .models import Message, SenderLimit

MAX_RATE = 1000.0  # the Cloud API's highest throughput per phone number


def sender_key(channel: str) -> str:
    if channel == Message.Channel.WHATSAPP:
        return f"whatsapp:{settings.WHATSAPP_PHONE_NUMBER_ID}"
    options = settings.MAILERS["default"].get("OPTIONS", {})
    return f"smtp:{options.get('host', 'localhost')}:{options.get('port', 25)}"


def configured_rate(channel: str) -> float:
    """Messages per second from settings; 0 means "no pace of ours" (only for benchmarks against the emulator)."""
    if channel == Message.Channel.WHATSAPP:
        return float(settings.WHATSAPP_RATE_LIMIT)
    return float(settings.EMAIL_RATE_LIMIT)


def rates_in_force(channels) -> dict[str, float]:
    """Each channel's rate in force, in one query: the office's own value for its sender if set (admin), else the
    configured one."""
    keys = {channel: sender_key(channel) for channel in channels}
    stored = dict(SenderLimit.objects.filter(key__in=keys.values()).exclude(rate=None).values_list("key", "rate"))
    return {channel: min(float(stored[key]), MAX_RATE) if stored.get(key) else configured_rate(channel)
            for channel, key in keys.items()}


def sender_rate(channel: str) -> float:
    return rates_in_force([channel])[channel]


def book(channel: str, count: int, rate: float | None = None) -> list[float]:
    """Books ``count`` consecutive slots of the channel's sender at ``rate`` (read if not given); returns their
    start times (epoch seconds)."""
    rate = sender_rate(channel) if rate is None else rate
    now = time.time()
    if count <= 0 or rate <= 0:
        return [now] * count
    key = sender_key(channel)
    with transaction.atomic():
        SenderLimit.objects.bulk_create([SenderLimit(key=key)], ignore_conflicts=True)
        row = SenderLimit.objects.select_for_update().get(key=key)
        start = max(now, row.next_slot)
        SenderLimit.objects.filter(pk=row.pk).update(next_slot=start + count / rate)
    return [start + index / rate for index in range(count)]


def batch_size_for(channels: list[str], largest: int, lease_seconds: float,
                   rates: dict[str, float] | None = None) -> int:
    """How many messages one claim may take: at most a quarter of the lease's worth at the slowest pace, so a
    batch is always sent well before its lease expires."""
    rates = rates_in_force(channels) if rates is None else rates
    rates = [rates[channel] for channel in channels if rates[channel] > 0]
    if not rates:
        return largest
    return max(1, min(largest, int(min(rates) * lease_seconds / 4)))
