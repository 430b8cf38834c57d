"""Points expiry in sets (`points_expire`), and the set writers of the ledger it shares with rewards.awards.

The beat job, the demo and the tests call the same service; it writes what expiring lot by lot wrote (one
`expire` entry per lot, keyed `expire:<lot>`), a chunk of members at a time: lock their accounts in member
order, read their due lots again under the locks, insert the entries in one statement, empty the lots and
lower the balances with one UPDATE each. Re-exported by rewards.services.
"""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from loyalty_site.db import any_of

from .models import LedgerEntry, PointsLot
from .reasons import EXPIRED, Reason
from .sql.accounts import accounts_lock
from .sql.ledger import balances_add, entries_write, entry_values, lots_write

MEMBERS_PER_CHUNK = 2000


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
    accounts_lock(member_ids)
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
            entry_values(
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


# The set writers are rewards.sql.ledger's; re-exported under the names rewards.awards imports.
_entry = entry_values


__all__ = ["balances_add", "entries_write", "lots_write", "points_expire"]
