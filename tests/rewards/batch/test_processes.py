"""The batch in two processes, and beside tills posting at the same time: the same points as one by one,
refusals named by the rows as given, a failing process failing the batch and a rerun completing it.
Transactional tests: the processes and the threads need committed data and their own connections."""

import os
import threading
from dataclasses import replace
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.utils import timezone

from members.models import Member, Purchase
from rewards.batch import purchases_post_batch
from rewards.models import LedgerEntry
from rewards.selectors import ledger_mismatches
from rewards.services import purchase_post
from tests.factories import MemberFactory, PurchaseRowFactory

from .support import post_one_by_one, random_rows, snapshot

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("processes and row locks need PostgreSQL")


def test_batch_beside_concurrent_single_posts_keeps_the_ledger_exact(program, tiers):
    members = MemberFactory.create_batch(5)
    now = timezone.now()
    rows = random_rows([m.pk for m in members], 200, now=now, seed=3)
    errors = []

    def till(i):
        try:
            for n in range(20):
                purchase_post(
                    member=members[(i + n) % len(members)],
                    source="till",
                    external_id=f"T{i}-{n}",
                    amount=Decimal("10"),
                    purchased_at=now,
                )
                # Some of the batch's own purchases, posted first by a till: the batch must skip them.
                row = rows[i * 20 + n]
                purchase_post(
                    member=Member.objects.get(pk=row.member_id),
                    source=row.source,
                    external_id=row.external_id,
                    amount=row.amount,
                    purchased_at=row.purchased_at,
                    now=now,
                )
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=till, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    result = purchases_post_batch(rows, now=now, chunk_size=10)
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert ledger_mismatches() == []
    assert Purchase.objects.filter(source="pos").count() == 200
    assert result.created + result.skipped == 200
    assert LedgerEntry.objects.filter(idempotency_key__startswith="purchase:pos:").count() == 200


@pytest.mark.parametrize("chunk_size", [30, 2])  # one round of rows per process, and several
def test_two_processes_give_each_member_what_posting_one_by_one_gives(pairs, returns_window, rules, chunk_size):
    now = timezone.now()
    rows = random_rows(list(pairs), 80, now=now, seed=11)
    rows.insert(40, rows[3])  # a repeat, which must be skipped whichever process gets it

    result = purchases_post_batch(rows, now=now, chunk_size=chunk_size, workers=2)
    post_one_by_one(rows[:40] + rows[41:], pairs, now=now)

    assert (result.created, result.skipped, result.refused) == (80, 1, 0)
    assert result.entries == LedgerEntry.objects.filter(idempotency_key__startswith="purchase:pos:").count()
    for original, twin in pairs.items():
        assert snapshot(Member.objects.get(pk=original)) == snapshot(twin)
    assert ledger_mismatches() == []


def test_refusals_from_processes_name_the_rows_as_given(program):
    members = [MemberFactory(), MemberFactory(status=Member.Status.SUSPENDED), MemberFactory(), MemberFactory()]
    now = timezone.now()
    rows = [
        PurchaseRowFactory(member=members[n % 4], external_id=f"R{n}", amount=Decimal("10"), purchased_at=now)
        for n in range(12)
    ]
    rows[7] = replace(rows[7], member_id=999_999)
    rows[10] = replace(rows[10], amount=Decimal("-1"))

    result = purchases_post_batch(rows, now=now, chunk_size=2, workers=2)

    assert [(r.index, r.external_id) for r in result.refusals] == [
        (1, "R1"),
        (5, "R5"),
        (7, "R7"),
        (9, "R9"),
        (10, "R10"),
    ]
    assert (result.created, result.refused) == (7, 5)
    assert ledger_mismatches() == []


@pytest.mark.parametrize("failure", ["raises", "dies"])
def test_a_failing_process_fails_the_batch_and_a_rerun_completes_it(pairs, program, failure):
    now = timezone.now()
    rows = random_rows(list(pairs), 40, now=now, seed=5)
    victim = rows[0].member_id

    def broken(part):
        # Given before the fork, so the processes inherit it.
        if any(row.member_id == victim for row in part):
            if failure == "dies":
                os._exit(9)
            raise ValueError("disk on fire")

    expected = (ValueError, "disk on fire") if failure == "raises" else (RuntimeError, "ended without a result")
    with pytest.raises(expected[0], match=expected[1]):
        purchases_post_batch(rows, now=now, workers=2, part_started=broken)
    assert not Purchase.objects.filter(member_id=victim).exists()  # its chunk rolled back
    assert ledger_mismatches() == []

    result = purchases_post_batch(rows, now=now, workers=2)

    assert result.created + result.skipped == 40
    assert Purchase.objects.filter(source="pos").count() == 40
    assert LedgerEntry.objects.filter(idempotency_key__startswith="purchase:pos:").count() == 40
    assert ledger_mismatches() == []
