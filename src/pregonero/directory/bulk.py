"""Plain-SQL bulk inserts for imports of up to a million rows.

Django's bulk_create spends ~40 µs a row building model instances and SQL; an import writes plain tuples
instead: ``executemany`` on SQLite and ``COPY`` on PostgreSQL. Primary keys are reserved up front (the
sequence on PostgreSQL; on SQLite the import's transaction holds the only write lock), so the caller knows each
new row's id for the rows that point to it. Must run inside a transaction.
"""

from django.db import connection


def reserve_ids(model, count: int) -> list[int]:
    if count == 0:
        return []
    table = model._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count]
            )
            return [row[0] for row in cursor.fetchall()]
        cursor.execute(f'SELECT COALESCE(MAX("id"), 0) FROM "{table}"')  # table name from our models  # nosec B608
        start = cursor.fetchone()[0] + 1
    return list(range(start, start + count))


def insert_rows(table: str, columns: list[str], rows) -> None:
    """Inserts already-adapted value tuples; `rows` may be any iterable."""
    quoted = ", ".join(f'"{c}"' for c in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY \"{table}\" ({quoted}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        marks = ", ".join("%s" for _c in columns)
        cursor.executemany(f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})', list(rows))  # nosec B608


def adapt_datetime(value):
    return connection.ops.adapt_datetimefield_value(value)


def adapt_date(value):
    return connection.ops.adapt_datefield_value(value)
