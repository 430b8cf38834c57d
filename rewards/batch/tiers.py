"""The tier followed in memory through a chunk, as `tier_recalculate` would move it row by row."""

from decimal import Decimal

from django.db.models import F, OuterRef, Subquery, Sum

from loyalty_site.db import any_of, rows_of
from members.models import Member, Purchase

from ..models import LedgerEntry, Tier
from ..planning import (
    POINTS,
    SPEND,
    PurchasePlan,
)
from .rows import ZERO, _Account, _Context, _TierState

# --- Tiers ---------------------------------------------------------------------------------------


def _tier_states(accounts: dict[int, _Account], context: _Context) -> dict[int, _TierState]:
    """Each member's tier and what tier_recalculate counts towards it, before this chunk."""
    bases = {tier.basis for tier in context.tiers}
    sums = {}
    # One subquery per member, on the (member, purchased_at) and (member, created_at) indexes: the plan stays
    # right however stale the table statistics are (a first import starts from empty tables).
    if Tier.Basis.SPEND in bases:
        sums["spend"] = Subquery(
            Purchase.objects.filter(
                member_id=OuterRef("pk"), purchased_at__gte=context.window_start, purchased_at__lte=context.now
            )
            .values("member_id")
            .annotate(s=Sum(F("amount") - F("refunded_amount")))
            .values("s")
        )
    if Tier.Basis.POINTS in bases:
        sums["points"] = Subquery(
            LedgerEntry.objects.filter(
                member_id=OuterRef("pk"),
                kind__in=[LedgerEntry.Kind.EARN, LedgerEntry.Kind.BONUS],
                created_at__gte=context.window_start,
            )
            .values("member_id")
            .annotate(s=Sum("points"))
            .values("s")
        )
    figures = {}
    for queryset in any_of(Member.objects.order_by(), "pk", sorted(accounts)):
        for pk, *values in rows_of(queryset.annotate(**sums).values_list("pk", *sums)):  # thousands: read in C
            figures[pk] = dict(zip(sums, values, strict=True))
    return {
        member_id: _TierState(
            tier=context.tiers_by_id.get(account.tier_id),
            below_since=account.tier_below_since,
            spend=figures[member_id].get("spend") or ZERO,
            points=Decimal(figures[member_id].get("points") or 0),
        )
        for member_id, account in accounts.items()
    }


def _tier_follow(state: _TierState, *, plan: PurchasePlan, context: _Context) -> None:
    """Keep the tier as tier_recalculate leaves it after each purchase: the plan's figures and tier move."""
    state.spend, state.points = plan.progress[SPEND], plan.progress[POINTS]
    move = plan.tier
    if move.changed:
        state.tier, state.below_since, state.changed = move.tier, move.below_since, True
        if move.change is not None:
            state.history.append(move.change)
            state.tier_changed = True
    target = move.target
    # The figures only grow within a batch, so a member qualified for the top tier stays there.
    tier = state.tier
    state.settled = (
        target is not None and tier is not None and target.pk == tier.pk and target.rank == context.tiers[-1].rank
    )
