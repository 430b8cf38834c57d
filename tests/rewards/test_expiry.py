"""Points expiry: FIFO consumption and a job that is safe to run twice."""

from datetime import timedelta

from django.utils import timezone

from rewards.models import LedgerEntry, PointsAccount
from rewards.selectors import ledger_mismatches, points_expiring
from rewards.services import points_earn, points_expire, points_redeem


def test_redemptions_consume_the_oldest_points_first(member, program):
    now = timezone.now()
    points_earn(member=member, points=100, reason="old", idempotency_key="old", at=now - timedelta(days=300))
    points_earn(member=member, points=100, reason="new", idempotency_key="new", at=now - timedelta(days=10))
    points_redeem(member=member, points=60, reason="a", idempotency_key="r1")
    points_redeem(member=member, points=30, reason="b", idempotency_key="r2")
    # 10 of the old lot are left; they expire first, the new lot stays whole.
    expired = points_expire(now=now + timedelta(days=70))
    assert expired == 1
    assert LedgerEntry.objects.get(kind="expire").points == -10
    assert PointsAccount.objects.get(member=member).balance == 100
    assert ledger_mismatches() == []


def test_partial_redeem_across_lots(member, program):
    now = timezone.now()
    for i, days in enumerate([200, 100, 50]):
        points_earn(member=member, points=40, reason="e", idempotency_key=f"e{i}", at=now - timedelta(days=days))
    points_redeem(member=member, points=70, reason="r", idempotency_key="r")
    # Lot 1 is gone, lot 2 has 10 left, lot 3 is whole.
    assert points_expire(now=now + timedelta(days=300)) == 1
    assert PointsAccount.objects.get(member=member).balance == 40
    assert points_expire(now=now + timedelta(days=400)) == 1
    assert PointsAccount.objects.get(member=member).balance == 0
    assert ledger_mismatches() == []


def test_expiry_run_twice_on_the_same_day_expires_nothing_twice(member, program):
    now = timezone.now()
    points_earn(member=member, points=100, reason="old", idempotency_key="old", at=now - timedelta(days=400))
    assert points_expire(now=now) == 1
    assert points_expire(now=now) == 0
    assert LedgerEntry.objects.filter(kind="expire").count() == 1
    assert PointsAccount.objects.get(member=member).balance == 0


def test_points_expiring_in_the_next_days(member, program):
    now = timezone.now()
    points_earn(member=member, points=70, reason="a", idempotency_key="a", at=now - timedelta(days=350))
    points_earn(member=member, points=30, reason="b", idempotency_key="b", at=now - timedelta(days=10))
    assert points_expiring(member=member, days=30, now=now) == 70
    assert points_expiring(member=member, days=400, now=now) == 100
