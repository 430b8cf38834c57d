"""Points expiry in sets (`points_expire`), and the set writers of the ledger it shares with rewards.awards.

The beat job, the demo and the tests call the same service; it writes what expiring lot by lot wrote (one
`expire` entry per lot, keyed `expire:<lot>`), a chunk of members at a time: lock their accounts in member
order, read their due lots again under the locks, insert the entries in one statement, empty the lots and
lower the balances with one UPDATE each. Re-exported by rewards.services.
"""

from collections.abc import Sequence
from datetime import datetime

from django.db import connection, transaction
from django.utils import timezone

from loyalty_site.db import any_of

from .batch import ENTRY_COLUMNS
from .batch.reading import _lock_accounts
from .batch.writing import _allocate_ids, _copy
from .models import LedgerEntry, PointsAccount, PointsLot
from .reasons import EXPIRED, Reason

AVAILABLE = LedgerEntry.Bucket.AVAILABLE.value
MEMBERS_PER_CHUNK = 2000
# SQLite refuses statements with more than 32,766 parameters: two per account in an UPDATE's VALUES.
SQLITE_VALUES_SLICE = 5000
LOT_COLUMNS = ("member_id", "entry_id", "points", "remaining", "earned_at", "expires_at")


def points_expire(
    *, now: datetime | None = None, dated_at_expiry: bool = False, members_per_chunk: int = MEMBERS_PER_CHUNK
) -> int:
    """Expire lots whose time has come, one entry per lot; returns how many. Running it twice expires nothing
    twice: under the account locks only lots with points left are read, and expiry leaves none.

    Each chunk of members is one transaction. An entry is dated `now` (the run), or with `dated_at_expiry`
    the moment its lot ran out: for a history written after the fact, as the demo's."""
    now = now or timezone.now()
    expired = 0
    after = 0
    while True:
        member_ids = list(
            PointsLot.objects.filter(remaining__gt=0, expires_at__lte=now, member_id__gt=after)
            .values_list("member_id", flat=True)
            .distinct()
            .order_by("member_id")[:members_per_chunk]
        )
        if not member_ids:
            return expired
        after = member_ids[-1]
        with transaction.atomic():
            expired += _expire_members(member_ids, now=now, dated_at_expiry=dated_at_expiry)


def _expire_members(member_ids: list[int], *, now: datetime, dated_at_expiry: bool) -> int:
    _lock_accounts(member_ids)
    due = sorted(
        (member_id, pk, remaining, earned_at, expires_at)
        for queryset in any_of(PointsLot.objects.filter(remaining__gt=0, expires_at__lte=now), "member_id", member_ids)
        for pk, member_id, remaining, earned_at, expires_at in queryset.values_list(
            "pk", "member_id", "remaining", "earned_at", "expires_at"
        )
    )
    if not due:
        return 0
    entries_write(
        [
            _entry(
                member_id=member_id,
                kind=LedgerEntry.Kind.EXPIRE.value,
                points=-remaining,
                reason=Reason(EXPIRED, {"earned": timezone.localdate(earned_at).isoformat()}),
                reference=f"lot:{pk}",
                idempotency_key=f"expire:{pk}",
                at=expires_at if dated_at_expiry else now,
            )
            for member_id, pk, remaining, earned_at, expires_at in due
        ]
    )
    for queryset in any_of(PointsLot.objects.all(), "pk", [pk for _member_id, pk, *_rest in due]):
        queryset.update(remaining=0)
    lowered: dict[int, int] = {}
    for member_id, _pk, remaining, *_rest in due:
        lowered[member_id] = lowered.get(member_id, 0) - remaining
    balances_add(lowered)
    return len(due)


# --- Set writers of the ledger (rewards.awards writes with them too) ----------------------------------------


def _entry(
    *, member_id: int, kind: str, points: int, reason: Reason, reference: str, idempotency_key: str, at: datetime
) -> tuple:
    """An available entry without purchase, rules or actor, as ENTRY_COLUMNS without the id: what `_post`
    writes for an expiry or an event bonus."""
    return (member_id, kind, AVAILABLE, points, *reason.columns(), None, reference, [], None, idempotency_key, None, at)


def entries_write(entries: Sequence[tuple], *, ids: bool = False) -> list[int]:
    """Insert ledger entries given as ENTRY_COLUMNS without the id (COPY on PostgreSQL); their ids, in order,
    when asked."""
    if connection.vendor == "postgresql":
        new_ids = _allocate_ids(LedgerEntry, len(entries)) if ids else []
        with _copy(LedgerEntry, ENTRY_COLUMNS if ids else ENTRY_COLUMNS[1:]) as copy:
            for n, values in enumerate(entries):
                copy.write_row((new_ids[n], *values) if ids else values)
        return new_ids
    objects = [LedgerEntry(**dict(zip(ENTRY_COLUMNS[1:], values, strict=True))) for values in entries]
    LedgerEntry.objects.bulk_create(objects)
    return [entry.pk for entry in objects] if ids else []


def lots_write(lots: Sequence[tuple]) -> None:
    """Insert points lots given as LOT_COLUMNS (COPY on PostgreSQL)."""
    if connection.vendor == "postgresql":
        with _copy(PointsLot, LOT_COLUMNS) as copy:
            for values in lots:
                copy.write_row(values)
        return
    PointsLot.objects.bulk_create(PointsLot(**dict(zip(LOT_COLUMNS, values, strict=True))) for values in lots)


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


__all__ = ["balances_add", "entries_write", "lots_write", "points_expire"]
