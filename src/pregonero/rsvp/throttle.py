"""A fixed-window counter shared by every web process: one ``rsvp.Throttle`` row per key (e.g. an IP address).

The count is bumped in one statement, ``INSERT … ON CONFLICT DO UPDATE … RETURNING`` (PostgreSQL, and SQLite
since 3.35), so two processes counting at the same moment never lose a hit and nobody reads before writing.
"""

from datetime import timedelta

from django.db import connection
from django.utils import timezone

from .models import Throttle


def _upsert_sql() -> str:
    quote = connection.ops.quote_name
    table, key, start, hits = (quote(name) for name in (Throttle._meta.db_table, "key", "window_start", "hits"))
    # Every SET expression sees the row as it was, so both CASEs agree on whether its window had ended.
    return (
        f"INSERT INTO {table} ({key}, {start}, {hits}) VALUES (%s, %s, 1) "  # names from the model  # nosec B608
        f"ON CONFLICT ({key}) DO UPDATE SET "
        f"{hits} = CASE WHEN {table}.{start} <= %s THEN 1 ELSE {table}.{hits} + 1 END, "
        f"{start} = CASE WHEN {table}.{start} <= %s THEN %s ELSE {table}.{start} END "
        f"RETURNING {hits}"
    )


def throttle_hit(key: str, limit: int, window_seconds: int) -> bool:
    """Counts one hit for ``key``; True while the key has had at most ``limit`` hits in its current window.

    A window starts with the first hit after the previous one ended and lasts ``window_seconds``.
    """
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    ended = adapt(now - timedelta(seconds=window_seconds))
    with connection.cursor() as cursor:
        cursor.execute(_upsert_sql(), [key[:200], adapt(now), ended, ended, adapt(now)])
        (hits,) = cursor.fetchone()
    return hits <= limit
