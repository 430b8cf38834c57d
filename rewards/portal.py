"""What rewards adds to the member portal (`loyalty_site.portal`): the history link and the home page's cards
for the balance, the tier and the latest entries."""

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from loyalty_site import portal
from members.models import Member

from .selectors import MemberStanding, member_ledger, member_standing, points_expiring

RECENT_ENTRIES = 10
EXPIRING_DAYS = 30


def _standing(request: HttpRequest, member: Member) -> MemberStanding:
    """The member's standing, read once per request: the balance and the tier cards both show it."""
    cached = getattr(request, "_rewards_portal_standing", None)
    if cached is None or cached[0] != member.pk:
        cached = (member.pk, member_standing(member=member))
        request._rewards_portal_standing = cached
    return cached[1]


def balance_card(request: HttpRequest, member: Member) -> dict:
    return {
        "standing": _standing(request, member),
        "expiring_points": points_expiring(member=member, days=EXPIRING_DAYS),
        "expiring_days": EXPIRING_DAYS,
    }


def tier_card(request: HttpRequest, member: Member) -> dict | None:
    standing = _standing(request, member)
    if standing.tier is None and standing.next_tier is None:
        return None  # a programme without tiers
    return {"standing": standing}


def recent_card(request: HttpRequest, member: Member) -> dict:
    return {"entries": list(member_ledger(member=member)[:RECENT_ENTRIES])}


portal.nav_entry("history", _("Historia"), "portal:history", order=20)
portal.dashboard_card("balance", "rewards/partials/_card_balance.html", balance_card, order=10)
portal.dashboard_card("tier", "rewards/partials/_card_tier.html", tier_card, order=20)
portal.dashboard_card("recent", "rewards/partials/_card_recent.html", recent_card, order=30)
