"""Rows a unique constraint may already hold (a challenge's completion, a badge awarded), inserted in sets: those
already there are left as they are, so awarding twice writes nothing twice."""

from django.db import connection
from django.db.models import Model


def rows_insert_new(model: type[Model], columns: dict[str, str], rows: list[tuple]) -> None:
    """Insert `rows` (values in the order of `columns`, which maps each column to its PostgreSQL array type, e.g.
    {"member_id": "bigint"}), leaving out those a unique constraint already holds: one statement on PostgreSQL
    (arrays, a parameter per column however many rows), bulk_create elsewhere."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            [model(**dict(zip(columns, row, strict=True))) for row in rows], ignore_conflicts=True
        )
        return
    quote = connection.ops.quote_name
    names = ", ".join(quote(name) for name in columns)
    arrays = ", ".join(f"%s::{kind}[]" for kind in columns.values())
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} ({names}) SELECT * FROM unnest({arrays}) "  # noqa: S608
            "ON CONFLICT DO NOTHING",
            [[row[n] for row in rows] for n in range(len(columns))],
        )
