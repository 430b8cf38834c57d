"""Redemptions, uses, cancellations and expiries at the same moment, each on its own database connection."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from members.models import Member
from rewards.models import LedgerEntry, PointsAccount, Redemption, Reward, Voucher
from rewards.redemption import RedemptionRefused, reward_redeem, voucher_cancel, voucher_use, vouchers_expire
from rewards.selectors import ledger_mismatches
from rewards.services import points_earn
from tests.factories import RewardFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency, pytest.mark.usefixtures("english")]

# PostgreSQL in the tests allows 200 connections (scripts/lib_services.sh); 40 threads leave room for the rest.
THREADS = 40


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")


def run_attempts(count: int, work, *, threads: int = THREADS):
    """Run `work(i)` for i in range(count) on `threads` threads released together; every attempt opens its own
    connection and closes it after, so each attempt is a separate database session."""
    barrier = threading.Barrier(min(threads, count))

    def job(i):
        if i < threads:
            barrier.wait(timeout=60)
        try:
            return work(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(job, range(count)))


def outcome(call):
    try:
        call()
        return "ok"
    except RedemptionRefused as refused:
        return refused.code


def test_200_redemptions_of_a_reward_with_stock_10(make_member, program):
    reward = RewardFactory(code="limited", name="Limited", kind="product", points_cost=100, stock=10)
    members = [make_member() for _ in range(200)]
    for m in members:
        points_earn(member=m, points=150, reason="start", idempotency_key=f"start:{m.pk}")
    pids = set()

    def attempt(i):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid(), txid_current()")
            pids.add(cursor.fetchone())
        return outcome(lambda: reward_redeem(member=Member.objects.get(pk=members[i].pk), reward=reward))

    results = run_attempts(200, attempt)
    assert len(pids) == 200, "every attempt ran in its own session"
    assert results.count("ok") == 10
    assert results.count("sold_out") == 190
    assert Reward.objects.get(pk=reward.pk).stock == 0
    assert Voucher.objects.count() == 10 and Redemption.objects.count() == 10
    assert not PointsAccount.objects.filter(balance__lt=0).exists()
    assert PointsAccount.objects.filter(balance=50).count() == 10
    assert PointsAccount.objects.filter(balance=150).count() == 190
    assert ledger_mismatches() == []


def test_exactly_enough_points_for_one_of_two_rewards_redeemed_at_once(member, program):
    first = RewardFactory(code="a", name="A", kind="product", points_cost=100)
    second = RewardFactory(code="b", name="B", kind="product", points_cost=100)
    points_earn(member=member, points=100, reason="start", idempotency_key="start")
    rewards = [first, second] * 5

    results = run_attempts(10, lambda i: outcome(lambda: reward_redeem(member=member, reward=rewards[i])), threads=10)
    assert results.count("ok") == 1
    assert results.count("points") == 9
    assert PointsAccount.objects.get(member=member).balance == 0
    assert ledger_mismatches() == []


def test_voucher_used_twice_at_once_is_used_once(member, program):
    reward = RewardFactory(code="a", name="A", kind="product", points_cost=100)
    points_earn(member=member, points=100, reason="start", idempotency_key="start")
    voucher = reward_redeem(member=member, reward=reward).voucher
    staff = UserFactory(username="till")

    results = run_attempts(10, lambda i: outcome(lambda: voucher_use(voucher=voucher, actor=staff)), threads=10)
    assert results.count("ok") == 1
    assert results.count("used") == 9
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.USED and voucher.used_at is not None


def test_cancel_twice_at_once_returns_points_and_stock_once(member, program):
    reward = RewardFactory(code="a", name="A", kind="product", points_cost=100, stock=5)
    points_earn(member=member, points=100, reason="start", idempotency_key="start")
    voucher = reward_redeem(member=member, reward=reward).voucher
    staff = UserFactory(username="support")

    results = run_attempts(10, lambda i: outcome(lambda: voucher_cancel(voucher=voucher, actor=staff)), threads=10)
    assert results.count("ok") == 1
    assert results.count("cancelled") == 9
    assert PointsAccount.objects.get(member=member).balance == 100
    assert Reward.objects.get(pk=reward.pk).stock == 5
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RESTORE).count() == 1
    assert ledger_mismatches() == []


def test_use_and_cancel_at_once_end_in_one_of_them(member, program):
    reward = RewardFactory(code="a", name="A", kind="product", points_cost=100, stock=5)
    points_earn(member=member, points=100, reason="start", idempotency_key="start")
    voucher = reward_redeem(member=member, reward=reward).voucher
    staff = UserFactory(username="support")
    calls = [voucher_use, voucher_cancel] * 4

    results = run_attempts(8, lambda i: outcome(lambda: calls[i](voucher=voucher, actor=staff)), threads=8)
    assert results.count("ok") == 1
    voucher.refresh_from_db()
    returned = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RESTORE).count()
    assert (voucher.status, returned) in {("used", 0), ("cancelled", 1)}
    assert ledger_mismatches() == []


def test_expiry_task_run_twice_at_once_changes_nothing_twice(make_member, program):
    reward = RewardFactory(code="a", name="A", kind="free_delivery", points_cost=10, stock=30, return_unused=True)
    members = [make_member() for _ in range(20)]
    for m in members:
        points_earn(member=m, points=10, reason="start", idempotency_key=f"start:{m.pk}")
        reward_redeem(member=m, reward=reward)
    later = timezone.now() + timedelta(days=31)

    results = run_attempts(4, lambda i: vouchers_expire(now=later), threads=4)
    assert sum(results) == 20
    assert vouchers_expire(now=later) == 0
    assert Voucher.objects.filter(status="expired").count() == 20
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RESTORE).count() == 20
    assert Reward.objects.get(pk=reward.pk).stock == 30
    assert PointsAccount.objects.filter(balance=10).count() == 20
    assert ledger_mismatches() == []
