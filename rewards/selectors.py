"""Reads of the points economy: balances, history, expiring points, tier progress, ledger checks."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from members.models import Member

from .models import LedgerEntry, PointsAccount, PointsLot, Tier
from .services import program_settings, tier_progress_value
from .sql.checks import account_mismatches


@dataclass(frozen=True)
class MemberStanding:
    balance: int
    pending: int
    tier: Tier | None
    next_tier: Tier | None
    progress_value: Decimal
    progress_percent: int
    missing_to_next: Decimal
    tier_below_since: datetime | None


def member_account(*, member: Member) -> PointsAccount:
    """The member's account with the tier, in one query (an empty one if they have never earned)."""
    account = PointsAccount.objects.select_related("tier").filter(member=member).first()
    return account or PointsAccount(member=member)


def member_standing(*, member: Member, now: datetime | None = None) -> MemberStanding:
    """Balance, tier and progress to the next tier in a constant number of queries."""
    now = now or timezone.now()
    account = member_account(member=member)
    tiers = list(Tier.objects.order_by("rank"))
    current_rank = account.tier.rank if account.tier else -1
    next_tier = next((t for t in tiers if t.rank > current_rank), None)
    value = Decimal("0")
    percent = 100
    missing = Decimal("0")
    if next_tier is not None:
        settings = program_settings()
        value = tier_progress_value(
            member=member, tier_basis=next_tier.basis, now=now, window_months=settings.tier_window_months
        )
        missing = max(next_tier.threshold - value, Decimal("0"))
        percent = 100 if not next_tier.threshold else min(int(value * 100 / next_tier.threshold), 100)
    return MemberStanding(
        balance=account.balance,
        pending=account.pending,
        tier=account.tier,
        next_tier=next_tier,
        progress_value=value,
        progress_percent=percent,
        missing_to_next=missing,
        tier_below_since=account.tier_below_since,
    )


def member_ledger(*, member: Member) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(member=member).select_related("purchase").order_by("-created_at", "-id")


def points_expiring(*, member: Member, days: int = 30, now: datetime | None = None) -> int:
    """Points that will expire within the next `days` days unless spent."""
    now = now or timezone.now()
    return PointsLot.objects.filter(
        member=member, remaining__gt=0, expires_at__isnull=False, expires_at__lte=now + timedelta(days=days)
    ).aggregate(s=Coalesce(Sum("remaining"), 0))["s"]


def members_points_expiring(*, days: int = 30, now: datetime | None = None) -> QuerySet:
    """Per member, points expiring in the next `days` days: for reminders and the expiry journey."""
    now = now or timezone.now()
    return (
        PointsLot.objects.filter(remaining__gt=0, expires_at__isnull=False, expires_at__lte=now + timedelta(days=days))
        .values("member_id")
        .annotate(points=Sum("remaining"))
        .order_by("member_id")
    )


def ledger_mismatches(*, member_ids=None) -> list[dict]:
    """Accounts whose stored balances differ from the ledger or the lots. Empty means all is well.

    One statement reading one snapshot (rewards.sql.checks): a purchase posted meanwhile is seen whole or not at
    all, and a million entries take a second and no memory here."""
    return [
        {
            "member_id": row.member_id,
            "balance": row.balance,
            "pending": row.pending,
            "ledger": {"available": row.ledger_available, "pending": row.ledger_pending},
            "lots": row.lots,
        }
        for row in account_mismatches(member_ids=member_ids)
    ]
