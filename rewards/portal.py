"""What rewards adds to the member portal (`loyalty_site.portal`): the history link and the home page's cards
for the balance, the tier and the latest entries."""

from datetime import timedelta

from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty_site import portal
from members.models import Member

from .models import PointsLot
from .selectors import MemberStanding, member_ledger, member_standing

RECENT_ENTRIES = 10
EXPIRING_DAYS = 30
EXPIRING_DATES = 3


def _standing(request: HttpRequest, member: Member) -> MemberStanding:
    """The member's standing, read once per request: the balance and the tier cards both show it."""
    cached = getattr(request, "_rewards_portal_standing", None)
    if cached is None or cached[0] != member.pk:
        cached = (member.pk, member_standing(member=member))
        request._rewards_portal_standing = cached
    return cached[1]


def points_expiring_by_day(*, member: Member, days: int = EXPIRING_DAYS) -> list[dict]:
    """The next days on which points expire within `days` days, with how many: one query, at most a few rows."""
    now = timezone.now()
    return list(
        PointsLot.objects.filter(
            member=member, remaining__gt=0, expires_at__isnull=False, expires_at__lte=now + timedelta(days=days)
        )
        .annotate(day=TruncDate("expires_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(points=Sum("remaining"))
        .order_by("day")[:EXPIRING_DATES]
    )


def balance_card(request: HttpRequest, member: Member) -> dict:
    expiring = points_expiring_by_day(member=member)
    return {
        "standing": _standing(request, member),
        "expiring": expiring,
        "expiring_points": sum(row["points"] for row in expiring),
        "expiring_days": EXPIRING_DAYS,
    }


def tier_card(request: HttpRequest, member: Member) -> dict | None:
    standing = _standing(request, member)
    if standing.tier is None and standing.next_tier is None:
        return None  # a programme without tiers
    return {"standing": standing}


def recent_card(request: HttpRequest, member: Member) -> dict:
    return {"entries": list(member_ledger(member=member)[:RECENT_ENTRIES])}


portal.nav_entry("history", _("History"), "portal:history", order=20)
portal.dashboard_card("balance", "rewards/partials/_card_balance.html", balance_card, order=10)
portal.dashboard_card("tier", "rewards/partials/_card_tier.html", tier_card, order=20)
portal.dashboard_card("recent", "rewards/partials/_card_recent.html", recent_card, order=30)
