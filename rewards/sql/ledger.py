"""The set writer of the ledger: entries, their lots and the balances they move, a set per statement.

Every path that writes points in sets writes through these functions: the batch (`rewards.batch`, its entries
streamed while the points are worked out, its lots), expiry (`rewards.expiry`), event awards
(`rewards.awards`) and the engagement prizes (`rewards.engagement.awarding`). COPY on PostgreSQL, the ORM's
bulk_create elsewhere. The callers hold the members' account locks (`rewards.sql.accounts`)."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cache

from django.db import connection
from psycopg.types.json import Jsonb

from ..models import LedgerEntry, PointsAccount, PointsLot
from ..reasons import Reason
from .copying import allocate_ids, copy_rows

AVAILABLE = LedgerEntry.Bucket.AVAILABLE.value
# SQLite refuses statements with more than 32,766 parameters: two per account in an UPDATE's VALUES.
SQLITE_VALUES_SLICE = 5000

# An entry as the set writers take it: a tuple in this order (the id first, or left out, see `ids`).
ENTRY_COLUMNS = (
    "id",
    "member_id",
    "kind",
    "bucket",
    "points",
    "reason",
    "reason_code",
    "reason_params",
    "purchase_id",
    "reference",
    "rules",
    "actor_id",
    "idempotency_key",
    "available_at",
    "created_at",
)
LOT_COLUMNS = ("member_id", "entry_id", "points", "remaining", "earned_at", "expires_at")


def entry_values(
    *, member_id: int, kind: str, points: int, reason: Reason, reference: str, idempotency_key: str, at: datetime
) -> tuple:
    """An available entry without purchase, rules or actor, as ENTRY_COLUMNS without the id: an expiry, an
    event bonus."""
    return (member_id, kind, AVAILABLE, points, *reason.columns(), None, reference, [], None, idempotency_key, None, at)


@contextmanager
def entries_copy(*, with_ids: bool) -> Iterator:
    """PostgreSQL: yields a function taking one entry (ENTRY_COLUMNS, with its id when `with_ids`, drawn by
    `copying.allocate_ids`), streamed to the table as it is given: the database stores and indexes the first
    entries while the caller works out the next."""
    with copy_rows(LedgerEntry, ENTRY_COLUMNS if with_ids else ENTRY_COLUMNS[1:]) as copy:
        yield copy.write_row


def entries_write(entries: Sequence[tuple], *, ids: bool = False) -> list[int]:
    """Insert ledger entries given as ENTRY_COLUMNS without the id; their ids, in order, when asked."""
    if connection.vendor == "postgresql":
        new_ids = allocate_ids(LedgerEntry, len(entries)) if ids else []
        with entries_copy(with_ids=ids) as write:
            for n, values in enumerate(entries):
                write((new_ids[n], *values) if ids else values)
        return new_ids
    objects = [LedgerEntry(**dict(zip(ENTRY_COLUMNS[1:], values, strict=True))) for values in entries]
    LedgerEntry.objects.bulk_create(objects)
    return [entry.pk for entry in objects] if ids else []


def lots_write(lots: Sequence[tuple]) -> None:
    """Insert points lots given as LOT_COLUMNS."""
    if not lots:
        return
    if connection.vendor == "postgresql":
        with copy_rows(PointsLot, LOT_COLUMNS) as copy:
            for values in lots:
                copy.write_row(values)
        return
    PointsLot.objects.bulk_create(PointsLot(**dict(zip(LOT_COLUMNS, values, strict=True))) for values in lots)


# One entry as the single writer (rewards.services.accounts._post) takes it: ENTRY_COLUMNS without the id, and the
# entry it releases, reverses or transfers.
ONE_ENTRY_COLUMNS = (*ENTRY_COLUMNS[1:], "related_entry_id")
_JSON_COLUMNS = frozenset(ONE_ENTRY_COLUMNS.index(column) for column in ("reason_params", "rules"))
_POINTS = ONE_ENTRY_COLUMNS.index("points")


@cache
def _one_entry_sql(column: str, lot: bool) -> str:
    if column not in ("balance", "pending"):
        raise ValueError(f"Not an account's points column: {column!r}")
    quote = connection.ops.quote_name
    entry_columns = ", ".join(quote(c) for c in ONE_ENTRY_COLUMNS)
    lot_columns = ", ".join(quote(c) for c in LOT_COLUMNS)
    lot_insert = (
        f", lot AS (INSERT INTO {quote(PointsLot._meta.db_table)} ({lot_columns}) "  # noqa: S608 - model's names
        "SELECT entry.member_id, entry.id, %s, %s, %s, %s FROM entry)"
        if lot
        else ""
    )
    return (
        f"WITH entry AS (INSERT INTO {quote(LedgerEntry._meta.db_table)} ({entry_columns}) "  # noqa: S608 - model's names
        f"VALUES ({', '.join(['%s'] * len(ONE_ENTRY_COLUMNS))}) RETURNING id, member_id), "
        f"account AS (UPDATE {quote(PointsAccount._meta.db_table)} SET {column} = {column} + %s WHERE id = %s)"
        f"{lot_insert} SELECT id FROM entry"
    )


def entry_post(
    values: Sequence, *, account_id: int, column: str, lot: tuple[int, datetime, datetime | None] | None = None
) -> int:
    """PostgreSQL: one entry (ONE_ENTRY_COLUMNS), its points added to the account's `column` ("balance" or
    "pending") and, when `lot` (points, earned_at, expires_at) is given, its lot, in one statement; returns
    the entry's id. The single post writes these on every purchase: one round trip instead of three. The
    database refuses a negative result as the separate statements did, and nothing of the three is written."""
    sql = _one_entry_sql(column, lot is not None)
    params = [Jsonb(value) if n in _JSON_COLUMNS else value for n, value in enumerate(values)]
    params += [values[_POINTS], account_id]
    if lot is not None:
        points, earned_at, expires_at = lot
        params += [points, points, earned_at, expires_at]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def balances_add(points: dict[int, int]) -> None:
    """Add points (member id: points, negative to take away) to the stored balances of locked accounts, in
    one UPDATE (slices of it on SQLite). The database refuses a negative balance."""
    changes = sorted((member_id, change) for member_id, change in points.items() if change)
    if not changes:
        return
    table = connection.ops.quote_name(PointsAccount._meta.db_table)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} AS a SET balance = a.balance + v.points "  # noqa: S608 - the model's table
                "FROM unnest(%s::bigint[], %s::integer[]) AS v(member_id, points) WHERE a.member_id = v.member_id",
                [[member_id for member_id, _ in changes], [change for _, change in changes]],
            )
            return
        for start in range(0, len(changes), SQLITE_VALUES_SLICE):
            part = changes[start : start + SQLITE_VALUES_SLICE]
            cursor.execute(
                f"UPDATE {table} SET balance = balance + v.column2 "  # noqa: S608 - the model's table
                f"FROM (VALUES {', '.join(['(%s, %s)'] * len(part))}) AS v WHERE {table}.member_id = v.column1",
                [value for change in part for value in change],
            )
