"""Partners: co-branded points awards and the monthly settlement (what the programme owes each partner).

The settlement of a month counts the partner's redemptions made in that month whose points were not given
back (a cancelled voucher, or an unused one returned at expiry, is not owed), each at the settlement value
copied onto the redemption when it was made. The report lists the redemptions it counts, so its total is
their sum and staff can reconcile it line by line with the vouchers.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext

from members.models import Member

from .models import LedgerEntry, Partner, Redemption
from .reasons import PARTNER, Reason
from .services import PointsError, points_earn


def partner_points_award(
    *,
    partner: Partner,
    member: Member,
    points: int,
    reason: str,
    idempotency_key: str,
    actor: AbstractBaseUser | None = None,
) -> LedgerEntry:
    """Points a partner gives in a co-branded promotion: a bonus through the ledger with the partner as its
    reference (`partner:<code>`), once per key."""
    if not partner.is_active:
        raise PointsError(gettext("%(partner)s is not an active partner.") % {"partner": partner.name})
    if member.status != Member.Status.ACTIVE:
        raise PointsError(gettext("Only an active member can be awarded points."))
    return points_earn(
        member=member,
        points=points,
        reason=Reason(PARTNER, {"partner": partner.name, "note": reason}),
        idempotency_key=f"partner:{partner.code}:{idempotency_key}"[:120],
        kind=LedgerEntry.Kind.BONUS,
        reference=f"partner:{partner.code}",
        actor=actor,
    )


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """The month's start and the next month's start, in the programme's time zone."""
    start = timezone.make_aware(datetime(year, month, 1))
    end = timezone.make_aware(datetime(year + (month == 12), month % 12 + 1, 1))
    return start, end


@dataclass(frozen=True)
class Settlement:
    partner: Partner
    year: int
    month: int
    redemptions: int  # made in the month
    returned: int  # of which given back: not owed
    settled: int  # owed
    amount: Decimal  # owed in PLN
    without_value: int  # owed redemptions of rewards with no settlement value (staff should set one)


def partner_month_redemptions(*, partner: Partner, year: int, month: int) -> QuerySet[Redemption]:
    start, end = month_bounds(year, month)
    return Redemption.objects.filter(partner=partner, created_at__gte=start, created_at__lt=end)


def partner_settlement(*, partner: Partner, year: int, month: int) -> Settlement:
    totals = partner_month_redemptions(partner=partner, year=year, month=month).aggregate(
        redemptions=Count("pk"),
        returned=Count("pk", filter=Q(restore_entry__isnull=False)),
        amount=Sum("settlement_value", filter=Q(restore_entry__isnull=True)),
        without_value=Count("pk", filter=Q(restore_entry__isnull=True, settlement_value__isnull=True)),
    )
    return Settlement(
        partner=partner,
        year=year,
        month=month,
        redemptions=totals["redemptions"],
        returned=totals["returned"],
        settled=totals["redemptions"] - totals["returned"],
        amount=totals["amount"] or Decimal("0.00"),
        without_value=totals["without_value"],
    )


SETTLEMENT_HEADERS = [
    "redemption_id",
    "redeemed_at",
    "reward_code",
    "reward_name",
    "member_number",
    "voucher_code",
    "voucher_status",
    "points",
    "settlement_value",
    "owed",
]


def partner_settlement_rows(*, partner: Partner, year: int, month: int):
    """Every redemption of the month, one row each (the export); `owed` says whether the total counts it."""
    queryset = (
        partner_month_redemptions(partner=partner, year=year, month=month)
        .select_related("reward", "member", "voucher")
        .order_by("created_at", "pk")
    )
    for redemption in queryset.iterator(chunk_size=1000):
        owed = redemption.restore_entry_id is None
        yield [
            redemption.pk,
            timezone.localtime(redemption.created_at).strftime("%Y-%m-%d %H:%M"),
            redemption.reward.code,
            redemption.reward.name,
            redemption.member.member_number,
            redemption.voucher.code,
            redemption.voucher.status,
            redemption.points,
            redemption.settlement_value if redemption.settlement_value is not None else "",
            "yes" if owed else "no",
        ]
