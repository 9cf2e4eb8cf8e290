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


def sender_rate(channel: str) -> float:
    """The rate in force: the office's own value for this sender if set (admin), else the configured one."""
    stored = SenderLimit.objects.filter(key=sender_key(channel)).values_list("rate", flat=True).first()
    return min(float(stored), MAX_RATE) if stored else configured_rate(channel)


def book(channel: str, count: int) -> list[float]:
    """Books ``count`` consecutive slots of the channel's sender; returns their start times (epoch seconds)."""
    rate = sender_rate(channel)
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


def batch_size_for(channels: list[str], largest: int, lease_seconds: float) -> int:
    """How many messages one claim may take: at most a quarter of the lease's worth at the slowest pace, so a
    batch is always sent well before its lease expires."""
    rates = [rate for rate in (sender_rate(channel) for channel in channels) if rate > 0]
    if not rates:
        return largest
    return max(1, min(largest, int(min(rates) * lease_seconds / 4)))
