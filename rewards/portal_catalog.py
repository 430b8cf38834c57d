"""What the reward catalog adds to the member portal (loyalty_site.portal): the "Rewards" and "My vouchers"
links and the home page's "recommended rewards" card."""

from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from loyalty_site import portal
from members.models import Member

from .catalog import available_q
from .models import PointsAccount, Reward

RECOMMENDED = 3


def recommended_card(request: HttpRequest, member: Member) -> dict | None:
    """Up to three rewards: the dearest the member can afford now, else the cheapest ones to aim for."""
    balance = PointsAccount.objects.filter(member=member).values_list("balance", flat=True).first() or 0
    offered = Reward.objects.filter(available_q(timezone.now())).only("code", "name", "points_cost", "image", "kind")
    rewards = list(offered.filter(points_cost__lte=balance).order_by("-points_cost", "name")[:RECOMMENDED])
    affordable = bool(rewards)
    if not rewards:
        rewards = list(offered.order_by("points_cost", "name")[:RECOMMENDED])
    if not rewards:
        return None
    return {"recommended": rewards, "affordable": affordable, "balance": balance}


portal.nav_entry("catalog", _("Rewards"), "portal:catalog", order=30)
portal.nav_entry("vouchers", _("My vouchers"), "portal:vouchers", order=40)
portal.dashboard_card("recommended", "rewards/partials/_catalog_card.html", recommended_card, order=25)
