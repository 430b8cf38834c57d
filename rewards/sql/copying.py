"""COPY in the binary format (cheapest to encode and to parse), and ids drawn beforehand so rows sent in one COPY
can point at rows of another. PostgreSQL only: the callers write with the ORM elsewhere."""

from contextlib import contextmanager

import orjson
from django.db import connection, models
from psycopg.types.json import set_json_dumps


def allocate_ids(model: type[models.Model], count: int) -> list[int]:
    """Draw `count` ids from the table's sequence, as INSERT would, so rows can point to each other."""
    with connection.cursor() as cursor:
        cursor.execute(
            # The sequence is looked up once (MATERIALIZED), not once per id.
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence(%s, %s)::regclass AS seq) "
            "SELECT array_agg(nextval(s.seq)) FROM s, generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return sorted(cursor.fetchone()[0] or [])


@contextmanager
def copy_rows(model: type[models.Model], columns: tuple[str, ...]):
    """COPY rows into the model's table: yields psycopg's Copy, whose `write_row` takes a tuple in `columns`'
    order."""
    quote = connection.ops.quote_name
    fields = {field.column: field for field in model._meta.concrete_fields}
    statement = (
        f"COPY {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN (FORMAT BINARY)"
    )
    with connection.cursor() as cursor, connection.wrap_database_errors:
        # JSON columns (rules, reason parameters) encoded by orjson: a tenth of json.dumps's time, and the batch
        # encodes two values per entry. jsonb stores the same value whichever spacing it is sent with.
        set_json_dumps(orjson.dumps, context=cursor.cursor)
        with cursor.cursor.copy(statement) as copy:
            copy.set_types([copy_type(fields[column]) for column in columns])
            yield copy


def copy_type(field: models.Field) -> str:
    """The PostgreSQL type name psycopg encodes a column's values as: 'varchar(30)' is sent as text."""
    base = field.db_type(connection).split("(")[0].strip()
    return {"varchar": "text", "timestamp with time zone": "timestamptz"}.get(base, base)
