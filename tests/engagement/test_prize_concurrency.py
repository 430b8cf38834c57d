"""Challenge prizes when the completing purchase arrives several times at the same moment, each time on its own
database connection (a till retrying, two workers, the batch beside the single post): one purchase, one
completion, one prize, one badge, and the ledger equal to the balances."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.utils import timezone

from members.models import Member, Purchase
from rewards.batch import PurchaseRow, purchases_post_batch
from rewards.engagement.models import BadgeAward, ChallengeCompletion, ChallengeProgress
from rewards.models import LedgerEntry, PointsAccount
from rewards.selectors import ledger_mismatches
from rewards.services import purchase_post

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.concurrency]

THREADS = 8


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")


def together(works):
    """Run the callables on their own threads, released together; each thread uses (and closes) its own
    connection. Returns (results, exceptions) and the backend pids that ran them."""
    barrier = threading.Barrier(len(works))
    pids = set()

    def run(work):
        barrier.wait(timeout=60)
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                pids.add(cursor.fetchone()[0])
            return work(), None
        except Exception as exc:  # every failure is reported by the test
            return None, exc
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=len(works)) as pool:
        outcomes = list(pool.map(run, works))
    return [r for r, _e in outcomes], [e for _r, e in outcomes if e is not None], pids


def post(member_id: int, external_id: str, amount: str = "20"):
    def work():
        return purchase_post(
            member=Member.objects.get(pk=member_id),
            source="pos",
            external_id=external_id,
            amount=Decimal(amount),
            purchased_at=timezone.now() - timedelta(hours=1),
        )

    return work


def prize_entries(challenge, member):
    return LedgerEntry.objects.filter(idempotency_key=f"challenge:{challenge.pk}:{member.pk}")


def assert_one_prize(challenge, member, badge, *, purchases: int, balance: int):
    assert Purchase.objects.filter(member=member).count() == purchases
    assert ChallengeCompletion.objects.filter(challenge=challenge, member=member).count() == 1
    assert prize_entries(challenge, member).count() == 1
    assert BadgeAward.objects.filter(member=member, badge=badge).count() == 1
    assert ChallengeProgress.objects.get(challenge=challenge, member=member).value == purchases
    assert PointsAccount.objects.get(member=member).balance == balance
    assert ledger_mismatches() == []


def test_the_same_completing_purchase_posted_at_once_on_separate_connections(member, program, make_challenge, badge):
    challenge = make_challenge(target=Decimal("2"), badge=badge)
    post(member.pk, "R-1")()
    results, failures, pids = together([post(member.pk, "R-2") for _ in range(THREADS)])
    assert failures == []
    assert len(pids) == THREADS, "every post ran in its own database session"
    assert len({result.purchase.pk for result in results}) == 1  # every caller is told of the one purchase
    assert_one_prize(challenge, member, badge, purchases=2, balance=20 + 20 + 500)


def test_different_purchases_that_each_complete_the_challenge_at_once(member, program, make_challenge, badge):
    """Two to nine purchases at once for a target of 2: whichever commits second completes it, once."""
    challenge = make_challenge(target=Decimal("2"), badge=badge)
    _results, failures, _pids = together([post(member.pk, f"P-{i}") for i in range(THREADS)])
    assert failures == []
    assert_one_prize(challenge, member, badge, purchases=THREADS, balance=20 * THREADS + 500)


def test_the_batch_and_the_single_post_of_the_same_purchase_at_once(member, program, make_challenge, badge):
    challenge = make_challenge(target=Decimal("2"), badge=badge)
    post(member.pk, "R-1")()
    row = PurchaseRow(
        member_id=member.pk,
        source="pos",
        external_id="R-2",
        amount=Decimal("20"),
        purchased_at=timezone.now() - timedelta(hours=1),
    )
    works = [post(member.pk, "R-2"), lambda: purchases_post_batch([row])] * (THREADS // 2)
    _results, failures, _pids = together(works)
    assert failures == []
    assert_one_prize(challenge, member, badge, purchases=2, balance=20 + 20 + 500)


def test_many_members_completing_at_once_each_get_one_prize(make_member, program, make_challenge, badge):
    challenge = make_challenge(target=Decimal("1"), badge=badge)
    members = [make_member() for _ in range(THREADS)]
    # Each member's one purchase posted twice, every post on its own connection at the same moment.
    receipts = {m.pk: uuid.uuid4().hex[:12] for m in members}
    _results, failures, _pids = together([post(m.pk, receipts[m.pk]) for m in members for _ in range(2)])
    assert failures == []
    assert ChallengeCompletion.objects.filter(challenge=challenge).count() == THREADS
    assert LedgerEntry.objects.filter(idempotency_key__startswith=f"challenge:{challenge.pk}:").count() == THREADS
    for m in members:
        assert PointsAccount.objects.get(member=m).balance == 20 + 500
    assert ledger_mismatches() == []
