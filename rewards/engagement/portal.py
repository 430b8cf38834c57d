"""What the engagement app adds to the member portal (`loyalty_site.portal`): header links and the home page's
"challenges" card."""

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from loyalty_site import portal
from members.models import Member

from .selectors import member_challenges

CARD_CHALLENGES = 3


def challenges_card(request: HttpRequest, member: Member) -> dict | None:
    """The running challenges closest to their end, with progress: one query. Left out when none runs."""
    active = member_challenges(member=member)["active"]
    if not active:
        return None
    return {"challenges": active[:CARD_CHALLENGES], "more": max(len(active) - CARD_CHALLENGES, 0)}


# One header link (a phone's header holds few): badges, the leaderboard and refer-a-friend are tabs of its pages.
portal.nav_entry("challenges", _("Challenges"), "portal:engagement_challenges", order=40)
portal.dashboard_card("challenges", "engagement/partials/_card_challenges.html", challenges_card, order=40)
