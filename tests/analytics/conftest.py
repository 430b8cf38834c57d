"""Analytics fixtures: a small programme history posted through the services, the way tills write it."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members.models import Member
from rewards.services import points_redeem, purchase_post, refund_post


def local(day, hour=12):
    return timezone.make_aware(datetime.combine(day, time(hour)))


@pytest.fixture
def history(make_member, program, tiers):
    """Four members, yesterday being the period's end (the dashboard's default: 30 days to yesterday).

    a: bought 40 days ago (previous period) and 5 and 3 days ago; redeemed 50 points.
    b: bought 40 days ago and 10 days ago, the latter refunded in full.
    c: one purchase 20 days ago, half refunded.
    d: joined, never bought.
    """
    today = timezone.localdate()
    a, b, c, d = (make_member() for _ in range(4))
    Member.objects.filter(pk__in=[a.pk, b.pk]).update(joined_at=local(today - timedelta(days=100)))
    Member.objects.filter(pk__in=[c.pk, d.pk]).update(joined_at=local(today - timedelta(days=25)))

    def buy(member, days_ago, amount, n):
        return purchase_post(
            member=member,
            source="pos",
            external_id=f"P-{member.pk}-{n}",
            amount=Decimal(amount),
            purchased_at=local(today - timedelta(days=days_ago)),
            store="WAW01" if n % 2 else "KRK02",
        ).purchase

    buy(a, 40, "100.00", 1)
    buy(a, 5, "50.00", 2)
    buy(a, 3, "70.00", 3)
    buy(b, 40, "200.00", 1)
    refunded = buy(b, 10, "80.00", 2)
    refund_post(purchase=refunded, external_id="R-1", amount=Decimal("80.00"))
    half = buy(c, 20, "90.00", 1)
    refund_post(purchase=half, external_id="R-2", amount=Decimal("45.00"))
    points_redeem(member=a, points=50, reason="test", idempotency_key="redeem-test-1")
    return {"a": a, "b": b, "c": c, "d": d, "today": today}
