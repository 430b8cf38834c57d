"""Reads of the reward catalog: which rewards members can get now, and the same conditions as Q objects.

The conditions are here once, so the admin's "availability" filter, the member-facing catalog and, later,
redemption agree on what "available" means.
"""

from datetime import datetime

from django.db.models import Q, QuerySet
from django.utils import timezone

from .models import Reward


def available_q(at: datetime) -> Q:
    """Offered at `at`: active, within its dates, in stock, and from an active partner (or none)."""
    return (
        Q(is_active=True)
        & (Q(available_from__isnull=True) | Q(available_from__lte=at))
        & (Q(available_until__isnull=True) | Q(available_until__gte=at))
        & (Q(stock__isnull=True) | Q(stock__gt=0))
        & (Q(partner__isnull=True) | Q(partner__is_active=True))
    )


def not_yet_available_q(at: datetime) -> Q:
    return Q(available_from__gt=at)


def ended_q(at: datetime) -> Q:
    return Q(available_until__lt=at)


def out_of_stock_q() -> Q:
    return Q(stock=0)


def rewards_available(*, at: datetime | None = None) -> QuerySet[Reward]:
    """The rewards a member could be offered at `at` (now by default), cheapest first.

    Tier and per-member limits depend on the member and are not applied here.
    """
    at = at or timezone.now()
    return (
        Reward.objects.filter(available_q(at))
        .select_related("partner", "min_tier")
        .order_by("points_cost", "name", "pk")
    )
