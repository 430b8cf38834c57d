"""What the reward catalog adds to the member portal (loyalty_site.portal): the "Rewards" and "My vouchers"
links and the home page's "recommended rewards" card."""

from django.db.models import Case, F, IntegerField, Q, Value, When
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty_site import portal
from members.models import Member

from . import portal as rewards_portal
from .catalog import available_q
from .models import Reward

RECOMMENDED = 3


def recommended_card(request: HttpRequest, member: Member) -> dict | None:
    """Up to three rewards in one query: the dearest the member can afford now first, then the cheapest ones
    to aim for. The balance is the one the balance card read for this request (no query of its own)."""
    balance = rewards_portal._standing(request, member).balance
    affordable = Q(points_cost__lte=balance)
    rewards = list(
        Reward.objects.filter(available_q(timezone.now()))
        .only("code", "name", "points_cost", "kind")
        .annotate(
            affordable_first=Case(When(affordable, then=Value(0)), default=Value(1)),
            nearest=Case(
                When(affordable, then=-F("points_cost")), default=F("points_cost"), output_field=IntegerField()
            ),
        )
        .order_by("affordable_first", "nearest", "name")[:RECOMMENDED]
    )
    if not rewards:
        return None
    return {"recommended": rewards, "affordable": rewards[0].points_cost <= balance, "balance": balance}


portal.nav_entry("catalog", _("Rewards"), "portal:catalog", order=30)
portal.nav_entry("vouchers", _("My vouchers"), "portal:vouchers", order=40)
portal.dashboard_card("recommended", "rewards/partials/_catalog_card.html", recommended_card, order=25)
