"""One purchase posted (the single path through rewards.planning) and its refunds."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext

from loyalty_site.hooks import announce, has_receivers
from members.models import Member, Purchase, Refund
from members.services import LineData, purchase_create, refund_create

from ..config import programme_config, version_checked
from ..earning import RuleSet
from ..events import PurchasePosted, PurchaseRefunded
from ..models import (
    LedgerEntry,
    PointsAccount,
)
from ..planning import (
    PlanConfig,
    PurchasePlan,
    Standing,
    plan_purchase,
    purchase_problems,
    recorded_for_another,
)
from ..reasons import REFUND, Reason
from .accounts import PointsError, _existing, _post, account_lock
from .points import points_reverse
from .tiers import _apply_tier, tier_progress_value, tier_recalculate

# --- Purchases -----------------------------------------------------------------------------------


@dataclass
class PostedPurchase:
    purchase: Purchase
    entry: LedgerEntry | None
    created: bool


def purchase_earn_key(purchase: Purchase) -> str:
    return f"purchase:{purchase.source}:{purchase.external_id}"


def purchase_categories(lines: Iterable[LineData]) -> tuple[str, ...]:
    """The categories of a purchase's lines, each once, in the order they first appear (PurchasePosted)."""
    return tuple(dict.fromkeys(line.category for line in lines if line.category))


@transaction.atomic
def purchase_post(
    *,
    member: Member,
    source: str,
    external_id: str,
    amount: Decimal,
    purchased_at: datetime | None = None,
    store: str = "online",
    lines: Sequence[LineData] = (),
    ruleset: RuleSet | None = None,
    now: datetime | None = None,
) -> PostedPurchase:
    """Record a purchase and post its points with the rules applied. Posting it again changes nothing."""
    problems = purchase_problems(
        source=source,
        external_id=external_id,
        amount=amount,
        store=store or "online",
        lines=lines,
        member_id=member.pk,
        member_status=member.status,
        member_number=member.member_number,
    )
    if problems:
        raise PointsError(problems[0].message)
    config = programme_config()
    account = account_lock(member=member, tiers=config.tiers)
    now = now or timezone.now()
    purchased_at = purchased_at or now
    settings = config.settings
    # The tier's figures before this purchase, under the account's lock: the plan counts the purchase in.
    progress = None
    if config.tiers:
        progress = {
            basis: tier_progress_value(
                member=member, tier_basis=basis, now=now, window_months=settings.tier_window_months
            )
            for basis in {tier.basis for tier in config.tiers}
        }
    purchase = purchase_create(
        member=member,
        source=source,
        external_id=external_id,
        amount=amount,
        purchased_at=purchased_at,
        store=store,
        lines=lines,
    )
    if purchase is None:
        # Recorded before, or by a concurrent post that got there first: posting it again changes nothing.
        existing = Purchase.objects.select_related("member").get(source=source, external_id=external_id)
        if existing.member_id != member.pk:
            # The same receipt for someone else is a mistake at the till, not a repeat: say so.
            raise PointsError(
                recorded_for_another(source=source, external_id=external_id, number=existing.member.member_number)
            )
        return PostedPurchase(existing, _existing(purchase_earn_key(existing)), created=False)
    plan = plan_purchase(
        external_id=external_id,
        amount=amount,
        store=purchase.store,
        purchased_at=purchased_at,
        lines=lines,
        standing=Standing(account.tier, account.tier_below_since, progress),
        config=PlanConfig.at(ruleset=ruleset or config.ruleset, settings=settings, tiers=config.tiers, now=now),
    )
    entry = _post_purchase_points(account=account, purchase=purchase, plan=plan) if plan.points > 0 else None
    with version_checked():
        _announce_and_move_tier(
            member=member, purchase=purchase, lines=lines, entry=entry, plan=plan, account=account, now=now
        )
    return PostedPurchase(purchase, entry, created=True)


def _announce_and_move_tier(
    *,
    member: Member,
    purchase: Purchase,
    lines: Sequence[LineData],
    entry: LedgerEntry | None,
    plan: PurchasePlan,
    account: PointsAccount,
    now: datetime,
) -> None:
    """PurchasePosted, then the tier's move (and its TierChanged): inside `version_checked()`, their receivers
    reuse the version purchase_post read."""
    if has_receivers(PurchasePosted):
        # Before the tier moves, as the batch announces its purchases before its tier changes.
        announce(
            [
                PurchasePosted(
                    member_id=member.pk,
                    purchase_id=purchase.pk,
                    amount=purchase.amount,
                    purchased_at=purchase.purchased_at,
                    store=purchase.store,
                    source=purchase.source,
                    categories=purchase_categories(lines),
                    points=entry.points if entry is not None else 0,
                    referred=member.referred_by_id is not None,
                )
            ]
        )
    if plan.tier is not None:
        _apply_tier(account=account, move=plan.tier, now=now)


def _post_purchase_points(*, account: PointsAccount, purchase: Purchase, plan: PurchasePlan) -> LedgerEntry:
    """Write the planned earn entry (and, for available points, its lot) row by row."""
    return _post(
        account=account,
        kind=LedgerEntry.Kind.EARN,
        bucket=plan.bucket,
        points=plan.points,
        reason=plan.reason,
        idempotency_key=purchase_earn_key(purchase),
        purchase=purchase,
        rules=plan.rules,
        at=purchase.purchased_at,
        available_at=plan.available_at,
        expires_at=plan.expires_at,
    )


@transaction.atomic
def refund_post(
    *, purchase: Purchase, external_id: str, amount: Decimal, reason: str = "", actor: AbstractBaseUser | None = None
) -> tuple[Refund, LedgerEntry | None]:
    """Record a full or partial refund and reverse the points earned on what was refunded."""
    account_lock(member=purchase.member)
    refund, created = refund_create(purchase=purchase, external_id=external_id, amount=amount, reason=reason)
    purchase = refund.purchase  # the locked copy, with refunded_amount up to date
    key = f"refund:{refund.pk}"
    if not created:
        return refund, _existing(key)
    earn = _existing(purchase_earn_key(purchase))
    if earn is None or purchase.amount == 0:
        _announce_refund(refund=refund, purchase=purchase, entry=None)
        tier_recalculate(member=purchase.member)
        return refund, None
    already = -LedgerEntry.objects.filter(
        purchase=purchase, kind=LedgerEntry.Kind.REVERSE, idempotency_key__startswith="refund:"
    ).aggregate(s=Coalesce(Sum("points"), 0))["s"]
    # Points for everything refunded so far, minus what earlier refunds already reversed: no rounding drift.
    target = (earn.points * purchase.refunded_amount / purchase.amount).to_integral_value()
    points = min(int(target) - already, earn.points - already)
    entry = None
    if points > 0:
        entry = points_reverse(
            entry=earn,
            points=points,
            reason=Reason(REFUND, {"refund": external_id, "number": purchase.external_id, "amount": str(amount)}),
            idempotency_key=key,
            actor=actor,
            reference=f"refund:{refund.pk}",
        )
    _announce_refund(refund=refund, purchase=purchase, entry=entry)
    tier_recalculate(member=purchase.member)
    return refund, entry


def _announce_refund(*, refund: Refund, purchase: Purchase, entry: LedgerEntry | None) -> None:
    if has_receivers(PurchaseRefunded):
        announce(
            [
                PurchaseRefunded(
                    member_id=purchase.member_id,
                    purchase_id=purchase.pk,
                    refund_id=refund.pk,
                    amount=refund.amount,
                    points=-entry.points if entry is not None else 0,
                )
            ]
        )


def purchase_for_points(*, source: str, external_id: str) -> Purchase:
    purchase = Purchase.objects.select_related("member").filter(source=source, external_id=external_id).first()
    if purchase is None:
        raise PointsError(
            gettext("No purchase %(external_id)s from %(source)s.") % {"external_id": external_id, "source": source}
        )
    return purchase
