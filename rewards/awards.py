"""Points for non-purchase events in sets (`events_award`): a members import's joining bonuses, the demo's.

It writes what `event_award` wrote one at a time (and `event_award` now calls it with one award): a `bonus`
entry keyed `event:<event>:<member>:<reference>`, a lot expiring with the programme's lifetime, the balance
raised; within the rule's cap per day, week, month or ever. Queries per call, however many awards: the
rules, the accounts (locked in member order, the missing ones created), the keys recorded before, one grouped
count of earlier awards, and the writes.
"""

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.db.models import Count, Q

from loyalty_site.db import any_of

from .batch.reading import _lock_accounts
from .expiry import _entry, balances_add, entries_write, lots_write
from .models import EventRule, LedgerEntry
from .reasons import EVENT, Reason
from .services import expiry_for, program_settings
from .services.bonuses import _period_start

# Distinct (event, period start) pairs counted by one grouped query; more are counted in several.
COUNTS_PER_QUERY = 20


@dataclass(frozen=True, slots=True)
class EventAward:
    member_id: int
    event: str
    reference: str
    at: datetime


@transaction.atomic
def events_award(*, awards: Sequence[EventAward]) -> int:
    """Award event points in sets, as `event_award` would one by one in the order given; returns the number
    of entries written. An award already recorded (same member, event and reference), for an event without an
    active rule, or over the rule's cap counting earlier awards and those before it here writes nothing."""
    rules = {rule.event: rule for rule in EventRule.objects.filter(is_active=True, event__in={a.event for a in awards})}
    awards = [award for award in awards if award.event in rules]
    if not awards:
        return 0
    member_ids = sorted({award.member_id for award in awards})
    _lock_accounts(member_ids)  # in member order, as every batch locks; creates the accounts missing
    recorded = _recorded_keys({_key(award) for award in awards})
    windows = {(award.event, _period_start(rules[award.event].cap_period, award.at)) for award in awards}
    earlier = _earlier_counts(member_ids, sorted(windows, key=lambda w: (w[0], w[1] is not None, w[1])))
    settings = program_settings()
    written: dict[tuple[int, str], list[datetime]] = defaultdict(list)  # this call's awards
    entries, lots = [], []
    raised: dict[int, int] = defaultdict(int)
    for award in awards:
        key = _key(award)
        if key in recorded:
            continue
        rule = rules[award.event]
        start = _period_start(rule.cap_period, award.at)
        here = written[award.member_id, award.event]
        counted = earlier.get((award.member_id, award.event, start), 0)
        counted += sum(1 for at in here if start is None or at >= start)
        if counted >= rule.cap_count:
            continue
        recorded.add(key)
        here.append(award.at)
        entries.append(
            _entry(
                member_id=award.member_id,
                kind=LedgerEntry.Kind.BONUS.value,
                points=rule.points,
                reason=Reason(EVENT, {"event": award.event}),
                reference=award.reference,
                idempotency_key=key,
                at=award.at,
            )
        )
        raised[award.member_id] += rule.points
        lots.append((award.member_id, rule.points, rule.points, award.at, expiry_for(award.at, settings)))
    if not entries:
        return 0
    entry_ids = entries_write(entries, ids=True)
    lots_write([(member_id, entry_id, *rest) for entry_id, (member_id, *rest) in zip(entry_ids, lots, strict=True)])
    balances_add(raised)
    return len(entries)


def _key(award: EventAward) -> str:
    return f"event:{award.event}:{award.member_id}:{award.reference}"


def _recorded_keys(keys: set[str]) -> set[str]:
    """Which of these keys the ledger has (its unique index on the key)."""
    return {
        key
        for queryset in any_of(LedgerEntry.objects.all(), "idempotency_key", sorted(keys))
        for key in queryset.values_list("idempotency_key", flat=True)
    }


def _earlier_counts(
    member_ids: list[int], windows: list[tuple[str, datetime | None]]
) -> dict[tuple[int, str, datetime | None], int]:
    """Earlier awards per member, event and period start (None: ever), counted in grouped queries: one per
    COUNTS_PER_QUERY windows (one for a members import, whose awards share one moment)."""
    counts = {}
    bonuses = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.BONUS, idempotency_key__startswith="event:")
    for first in range(0, len(windows), COUNTS_PER_QUERY):
        part = windows[first : first + COUNTS_PER_QUERY]
        columns = {
            f"n{n}": Count(
                "pk",
                filter=Q(idempotency_key__startswith=f"event:{event}:")
                & (Q(created_at__gte=start) if start is not None else Q()),
            )
            for n, (event, start) in enumerate(part)
        }
        for queryset in any_of(bonuses, "member_id", member_ids):
            for row in queryset.order_by().values("member_id").annotate(**columns):
                for n, (event, start) in enumerate(part):
                    if row[f"n{n}"]:
                        counts[row["member_id"], event, start] = row[f"n{n}"]
    return counts


__all__ = ["EventAward", "events_award"]
