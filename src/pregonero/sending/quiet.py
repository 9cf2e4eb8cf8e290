"""Quiet hours: invitations wait instead of waking guests at night (default 21:00–08:00, local time)."""

from datetime import datetime, time

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone


def quiet_window() -> tuple[time, time] | None:
    text = (settings.SENDING_QUIET_HOURS or "").strip()
    if not text:
        return None
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError as error:
        raise ImproperlyConfigured(f"SENDING_QUIET_HOURS must look like 21:00-08:00, not {text!r}") from error
    return start, end


def in_quiet_hours(moment: datetime | None = None) -> bool:
    window = quiet_window()
    if window is None:
        return False
    start, end = window
    now = timezone.localtime(moment).time()
    # A window like 21:00-08:00 wraps past midnight.
    return start <= now < end if start < end else now >= start or now < end
