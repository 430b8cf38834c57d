"""Tiers: upgrade on purchase, grace period before a downgrade, history of changes."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from rewards.models import PointsAccount, TierChange
from rewards.services import purchase_post, refund_post, tier_recalculate, tiers_recalculate_all
from tests.factories import PurchaseFactory


def test_purchase_upgrades_the_tier_at_once(member, program, tiers):
    PurchaseFactory(member=member, external_id="A", amount=Decimal("999"))
    assert PointsAccount.objects.get(member=member).tier.code == "bronze"
    PurchaseFactory(member=member, external_id="B", amount=Decimal("1"))
    assert PointsAccount.objects.get(member=member).tier.code == "silver"
    assert list(TierChange.objects.filter(member=member).values_list("to_tier__code", flat=True)) == [
        "silver",
        "bronze",
    ]


def test_downgrade_waits_for_the_grace_period(member, program, tiers):
    program.tier_grace_days = 30
    program.save()
    now = timezone.now()
    posted = purchase_post(member=member, source="pos", external_id="A", amount=Decimal("1500"), purchased_at=now)
    refund_post(purchase=posted.purchase, external_id="R", amount=Decimal("1000"))
    account = PointsAccount.objects.get(member=member)
    assert account.tier.code == "silver" and account.tier_below_since is not None
    tier_recalculate(member=member, now=now + timedelta(days=29))
    assert PointsAccount.objects.get(member=member).tier.code == "silver"
    tier_recalculate(member=member, now=now + timedelta(days=31))
    assert PointsAccount.objects.get(member=member).tier.code == "bronze"


def test_nightly_recalculation_downgrades_when_spend_leaves_the_window(member, program, tiers):
    now = timezone.now()
    PurchaseFactory(member=member, external_id="A", amount=Decimal("6000"), purchased_at=now)
    assert PointsAccount.objects.get(member=member).tier.code == "gold"
    later = now + timedelta(days=400)
    assert tiers_recalculate_all(now=later) == 1  # grace starts
    assert tiers_recalculate_all(now=later) == 0
    assert tiers_recalculate_all(now=later + timedelta(days=31)) == 1
    assert PointsAccount.objects.get(member=member).tier.code == "bronze"
