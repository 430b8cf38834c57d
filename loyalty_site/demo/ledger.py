"""Set-based ledger writes for demo_seed, where the one-at-a-time services would add about an hour at benchmark size.

Each function writes what the service would have written, one row for one row: the same kinds, buckets,
reasons, references and idempotency keys, the same lots and the same balance changes. So the services treat
the work as done (event_award returns the existing entry, points_expire finds nothing due) and the ledger
invariants hold; demo_seed ends with rewards.selectors.ledger_mismatches(), which must be empty.

  opening_bonuses   = rewards.services.event_award for the sign-up events of members being enrolled
  lots_expire_bulk  = rewards.services.points_expire, with each expiry dated when its lot ran out

They stay copies until rewards offers set-based services for the same writes. Measured through
`event_award` and `points_expire` one member at a time (December 2026, 2-CPU server): the default demo on
SQLite took 64 s of CPU instead of 29 s, and at 10,000 members and 100,000 purchases on PostgreSQL these two
steps took 634 s instead of 12 s (about an hour more at the benchmark size). tests/demo/test_ledger.py runs each
copy beside its service on the same history and compares the rows, so they cannot drift apart unnoticed.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db import transaction
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from rewards.models import EventRule, LedgerEntry, PointsAccount, PointsLot
from rewards.services import expiry_for, program_settings

from .bulk import insert

# SQLite accepts at most 32,766 parameters in one statement: filter on ids in slices.
ID_SLICE = 5000
AVAILABLE = LedgerEntry.Bucket.AVAILABLE
ENTRY_COLUMNS = (
    "member_id",
    "kind",
    "bucket",
    "points",
    "reason",
    "reference",
    "rules",
    "idempotency_key",
    "created_at",
)
LOT_COLUMNS = ("member_id", "entry_id", "points", "remaining", "earned_at", "expires_at")


def opening_bonuses(awards: Sequence[tuple[int, str, datetime, str]]) -> dict[int, int]:
    """Write the entries and lots of (member_id, event, moment, reference) awards for members whose points
    accounts are opened in the same transaction; returns each member's points: their opening balance.

    Only for a member's first awards: event_award's caps (once ever, per period) are not checked here.
    """
    rules = {rule.event: rule for rule in EventRule.objects.filter(is_active=True)}
    reasons = {event: str(rule.get_event_display())[:255] for event, rule in rules.items()}
    settings = program_settings()
    awards = [award for award in awards if award[1] in rules]
    entry_ids = insert(
        LedgerEntry,
        ENTRY_COLUMNS,
        (
            (
                member_id,
                LedgerEntry.Kind.BONUS,
                AVAILABLE,
                rules[event].points,
                reasons[event],
                reference,
                [],
                f"event:{event}:{member_id}:{reference}",
                at,
            )
            for member_id, event, at, reference in awards
        ),
        return_ids=True,
    )
    insert(
        PointsLot,
        LOT_COLUMNS,
        (
            (member_id, entry_id, rules[event].points, rules[event].points, at, expiry_for(at, settings))
            for entry_id, (member_id, event, at, _reference) in zip(entry_ids, awards, strict=True)
        ),
    )
    balances: dict[int, int] = defaultdict(int)
    for member_id, event, _at, _reference in awards:
        balances[member_id] += rules[event].points
    return balances


def lots_expire_bulk(*, now: datetime, chunk: int = 20000) -> int:
    """Expire every lot whose time has come by `now`, one entry per lot dated at the lot's expiry."""
    expired = 0
    last_id = 0
    while True:
        due = list(
            PointsLot.objects.filter(remaining__gt=0, expires_at__lte=now, pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", "member_id", "remaining", "earned_at", "expires_at")[:chunk]
        )
        if not due:
            return expired
        last_id = due[-1][0]
        with transaction.atomic():
            accounts = _lock_accounts(member_id for _pk, member_id, *_rest in due)
            insert(
                LedgerEntry,
                ENTRY_COLUMNS,
                (
                    (
                        member_id,
                        LedgerEntry.Kind.EXPIRE,
                        AVAILABLE,
                        -remaining,
                        f"Points earned {timezone.localdate(earned_at):%Y-%m-%d} expired",
                        f"lot:{pk}",
                        [],
                        f"expire:{pk}",
                        expires_at,
                    )
                    for pk, member_id, remaining, earned_at, expires_at in due
                ),
            )
            ids = [pk for pk, *_rest in due]
            for start in range(0, len(ids), ID_SLICE):
                PointsLot.objects.filter(pk__in=ids[start : start + ID_SLICE]).update(remaining=0)
            _rebalance(accounts)
        expired += len(due)


def _lock_accounts(member_ids: Iterable[int]) -> list[int]:
    """Lock the members' accounts in member order, as every writer of points does; returns the account ids."""
    ordered = sorted(set(member_ids))
    ids = []
    for start in range(0, len(ordered), ID_SLICE):
        ids += (
            PointsAccount.objects.select_for_update()
            .filter(member_id__in=ordered[start : start + ID_SLICE])
            .order_by("member_id")
            .values_list("pk", flat=True)
        )
    return ids


def _rebalance(account_ids: list[int]) -> None:
    """Set the locked accounts' balances to the sum of their available entries: the invariant itself, in one
    UPDATE per slice instead of one per account."""
    available = (
        LedgerEntry.objects.filter(member_id=OuterRef("member_id"), bucket=AVAILABLE)
        .order_by()
        .values("member_id")
        .annotate(total=Sum("points"))
        .values("total")
    )
    for start in range(0, len(account_ids), ID_SLICE):
        PointsAccount.objects.filter(pk__in=account_ids[start : start + ID_SLICE]).update(
            balance=Coalesce(Subquery(available), 0)
        )


__all__ = ["lots_expire_bulk", "opening_bonuses"]
