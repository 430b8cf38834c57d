"""Concurrent spends and postings, each on its own database connection."""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.db import connection, connections

from members.models import Member
from rewards.models import LedgerEntry, PointsAccount
from rewards.selectors import ledger_mismatches
from rewards.services import InsufficientPoints, points_earn, points_redeem, purchase_post

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]


def run_concurrently(count: int, work):
    """Run `work(i)` in `count` threads released together; each thread uses its own connection."""
    barrier = threading.Barrier(count)

    def job(i):
        try:
            barrier.wait(timeout=30)
            return work(i)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(job, range(count)))


def test_fifty_concurrent_spends_against_a_thousand_points(member, program):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    points_earn(member=member, points=1000, reason="start", idempotency_key="start")
    backend_pids = set()

    def spend(i):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend_pids.add(cursor.fetchone()[0])
        try:
            points_redeem(
                member=Member.objects.get(pk=member.pk), points=100, reason="spend", idempotency_key=f"spend-{i}"
            )
            return "ok"
        except InsufficientPoints:
            return "refused"

    results = run_concurrently(50, spend)
    assert len(backend_pids) == 50, "each spend must run on its own connection"
    assert results.count("ok") == 10
    assert results.count("refused") == 40
    assert PointsAccount.objects.get(member=member).balance == 0
    assert LedgerEntry.objects.filter(member=member, kind="redeem").count() == 10
    assert ledger_mismatches() == []


def test_same_purchase_posted_concurrently_gives_one_earn_entry(member, program):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")

    def post(i):
        return purchase_post(
            member=Member.objects.get(pk=member.pk), source="pos", external_id="SAME-1", amount=Decimal("99.99")
        ).created

    results = run_concurrently(10, post)
    assert results.count(True) == 1
    assert LedgerEntry.objects.filter(member=member, kind="earn").count() == 1
    assert PointsAccount.objects.get(member=member).balance == 99
