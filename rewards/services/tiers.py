"""Tier progress and the tier a member holds, one member or all of them."""

from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from loyalty_site.hooks import announce, has_receivers
from members.models import Member, Purchase

from ..events import TierChanged
from ..models import (
    LedgerEntry,
    PointsAccount,
    ProgramSettings,
    Tier,
    TierChange,
)
from ..planning import (
    TierMove,
    add_months,
    tier_move,
)
from ..sql.tiers import CENT as CENT  # re-exported
from ..sql.tiers import tier_window_sum
from .accounts import account_lock, program_settings

# --- Tiers ---------------------------------------------------------------------------------------


def tier_progress_value(*, member: Member, tier_basis: str, now: datetime, window_months: int) -> Decimal:
    """What counts towards a tier over the window: spend net of refunds, or points earned.

    One hand-written aggregate: it runs on every purchase posted, where the ORM's query building cost more
    than the query itself (about 1.5 ms against 0.4 ms measured on the bench machine)."""
    since = add_months(now, -window_months)
    return tier_window_sum(member_id=member.pk, basis=tier_basis, since=since, now=now)


def tier_recalculate(
    *,
    member: Member,
    account: PointsAccount | None = None,
    now: datetime | None = None,
    tiers: Sequence[Tier] | None = None,
    settings: ProgramSettings | None = None,
) -> PointsAccount:
    """Upgrade at once; downgrade only after the grace period has passed below the threshold."""
    now = now or timezone.now()
    # A caller passing the account holds its lock inside its own transaction: no savepoint needed.
    with transaction.atomic() if account is None else nullcontext():
        account = account or account_lock(member=member)
        tiers = list(tiers if tiers is not None else Tier.objects.order_by("rank"))
        if not tiers:
            return account
        settings = settings or program_settings()
        bases = {tier.basis for tier in tiers}
        values = {
            basis: tier_progress_value(
                member=member, tier_basis=basis, now=now, window_months=settings.tier_window_months
            )
            for basis in bases
        }
        move = tier_move(
            current_tier=account.tier,
            below_since=account.tier_below_since,
            progress_value=values,
            tiers=tiers,
            now=now,
            grace_days=settings.tier_grace_days,
        )
        return _apply_tier(account=account, move=move, now=now)


def _apply_tier(*, account: PointsAccount, move: TierMove, now: datetime) -> PointsAccount:
    """Write what rewards.planning.tier_move decided for the locked account, and announce a change."""
    if not move.changed:
        return account
    current = account.tier
    update: dict = {"tier_below_since": move.below_since}
    if move.change is not None:
        update |= {"tier": move.tier, "tier_since": now}
    for name, value in update.items():
        setattr(account, name, value)
    PointsAccount.objects.filter(pk=account.pk).update(**update)
    if move.change is not None:
        _old, new, reason = move.change
        TierChange.objects.create(
            member_id=account.member_id,
            from_tier=current,
            to_tier=new,
            reason_code=reason.code,
            reason_params=reason.params,
            changed_at=now,
        )
        if has_receivers(TierChanged):
            announce(
                [
                    TierChanged(
                        member_id=account.member_id,
                        from_tier_id=current.pk if current is not None else None,
                        to_tier_id=update["tier"].pk if update["tier"] is not None else None,
                        changed_at=now,
                    )
                ]
            )
    return account


def tiers_recalculate_all(*, now: datetime | None = None, member_ids: Iterable[int] | None = None) -> int:
    """Nightly: recompute every member's tier in a few grouped queries, writing only the changes."""
    now = now or timezone.now()
    tiers = list(Tier.objects.order_by("rank"))
    if not tiers:
        return 0
    settings = program_settings()
    since = add_months(now, -settings.tier_window_months)
    purchases = Purchase.objects.filter(purchased_at__gte=since, purchased_at__lte=now)
    entries = LedgerEntry.objects.filter(
        kind__in=[LedgerEntry.Kind.EARN, LedgerEntry.Kind.BONUS], created_at__gte=since
    )
    accounts = PointsAccount.objects.select_related("tier")
    if member_ids is not None:
        member_ids = list(member_ids)
        purchases = purchases.filter(member_id__in=member_ids)
        entries = entries.filter(member_id__in=member_ids)
        accounts = accounts.filter(member_id__in=member_ids)
    spend = dict(
        purchases.values("member_id").annotate(s=Sum(F("amount") - F("refunded_amount"))).values_list("member_id", "s")
    )
    points = {}
    if Tier.Basis.POINTS in {t.basis for t in tiers}:
        points = dict(entries.values("member_id").annotate(s=Sum("points")).values_list("member_id", "s"))
    changed = 0
    for account in accounts.iterator(chunk_size=2000):
        values = {
            Tier.Basis.SPEND: spend.get(account.member_id) or Decimal("0"),
            Tier.Basis.POINTS: Decimal(points.get(account.member_id) or 0),
        }
        move = tier_move(
            current_tier=account.tier,
            below_since=account.tier_below_since,
            progress_value=values,
            tiers=tiers,
            now=now,
            grace_days=settings.tier_grace_days,
        )
        if not move.changed:
            continue
        before = (account.tier_id, account.tier_below_since)
        with transaction.atomic():
            locked = PointsAccount.objects.select_for_update(of=("self",)).select_related("tier").get(pk=account.pk)
            move = tier_move(
                current_tier=locked.tier,
                below_since=locked.tier_below_since,
                progress_value=values,
                tiers=tiers,
                now=now,
                grace_days=settings.tier_grace_days,
            )
            _apply_tier(account=locked, move=move, now=now)
            if (locked.tier_id, locked.tier_below_since) != before:
                changed += 1
    return changed
