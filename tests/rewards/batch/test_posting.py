"""The batch posting path (rewards.batch): the same points, ledger, lots and tiers as purchase_post row by row,
written in bulk.

Refusals are in test_refusals.py, the batch in processes and beside concurrent posts in test_processes.py; the
rows, the twins and the snapshot compared are in support.py, the fixtures in tests/rewards/conftest.py."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members.models import Member, Purchase
from rewards.batch import purchases_post_batch
from rewards.models import LedgerEntry, PointsAccount, PointsLot, TierChange
from rewards.selectors import ledger_mismatches
from rewards.services import add_months, points_redeem
from tests.factories import MemberFactory, PurchaseFactory, PurchaseRowFactory

from .support import post_one_by_one, random_rows, snapshot

# --- The same as one by one ---------------------------------------------------------------------------


@pytest.mark.parametrize("chunk_size", [7, 5000])
def test_batch_gives_each_member_what_posting_one_by_one_gives(pairs, returns_window, rules, chunk_size):
    now = timezone.now()
    rows = random_rows(list(pairs), 80, now=now)

    result = purchases_post_batch(rows, now=now, chunk_size=chunk_size)
    post_one_by_one(rows, pairs, now=now)

    assert result.created == 80 and result.skipped == 0 and result.refused == 0
    for original, twin in pairs.items():
        mine, theirs = snapshot(Member.objects.get(pk=original)), snapshot(twin)
        assert mine == theirs
    assert result.entries == LedgerEntry.objects.filter(member_id__in=list(pairs)).count()
    assert result.points == sum(LedgerEntry.objects.filter(member_id__in=list(pairs)).values_list("points", flat=True))
    # The data really exercised what it should: both buckets, several tiers, rules beyond the base rate.
    entries = LedgerEntry.objects.filter(member_id__in=list(pairs))
    assert entries.filter(bucket="pending").exists() and entries.filter(bucket="available").exists()
    assert TierChange.objects.filter(member_id__in=list(pairs), to_tier__code="silver").exists()
    assert any(rule["name"] == "Srebrni online x1.5" for entry in entries for rule in entry.rules)


def test_batch_on_top_of_earlier_points_matches_one_by_one(pairs, returns_window, rules):
    now = timezone.now()
    earlier = random_rows(list(pairs), 20, now=now - timedelta(days=90), seed=1)
    later = random_rows(list(pairs), 30, now=now, seed=2)
    for original, twin in pairs.items():
        # Both members of a pair start with the same history, posted one by one.
        own = [row for row in earlier if row.member_id == original]
        post_one_by_one(own, {original: Member.objects.get(pk=original)}, now=now, source="old")
        post_one_by_one(own, {original: twin}, now=now, source="old-twin")
        points_redeem(member=twin, points=5, reason="spend", idempotency_key=f"spend-{twin.pk}")
        points_redeem(
            member=Member.objects.get(pk=original), points=5, reason="spend", idempotency_key=f"spend-{original}"
        )

    purchases_post_batch(later, now=now)
    post_one_by_one(later, pairs, now=now)

    for original, twin in pairs.items():
        assert snapshot(Member.objects.get(pk=original)) == snapshot(twin)
    assert ledger_mismatches() == []


def test_ledger_equals_balances_after_a_batch(returns_window, rules):
    members = MemberFactory.create_batch(6)
    now = timezone.now()

    purchases_post_batch(random_rows([m.pk for m in members], 120, now=now), now=now, chunk_size=25)

    assert ledger_mismatches() == []
    assert PointsAccount.objects.filter(member__in=members).count() == 6


# --- Posted once ----------------------------------------------------------------------------------------


def test_running_the_same_batch_twice_creates_nothing_the_second_time(pairs, returns_window, rules):
    now = timezone.now()
    rows = random_rows(list(pairs), 30, now=now)
    first = purchases_post_batch(rows, now=now)
    counts = (Purchase.objects.count(), LedgerEntry.objects.count(), PointsLot.objects.count())
    balances = list(PointsAccount.objects.order_by("pk").values_list("balance", "pending", "tier_id"))

    second = purchases_post_batch(rows, now=now)

    assert first.created == 30
    assert (second.created, second.skipped, second.entries, second.points) == (0, 30, 0, 0)
    assert (Purchase.objects.count(), LedgerEntry.objects.count(), PointsLot.objects.count()) == counts
    assert list(PointsAccount.objects.order_by("pk").values_list("balance", "pending", "tier_id")) == balances


def test_a_purchase_repeated_within_the_batch_is_posted_once(member, program):
    now = timezone.now()
    yesterday = now - timedelta(days=1)
    row = PurchaseRowFactory(
        member=member, source="pos", external_id="X-1", amount=Decimal("120"), purchased_at=yesterday
    )
    other = PurchaseRowFactory(
        member=member, source="web", external_id="X-1", amount=Decimal("30"), purchased_at=yesterday
    )

    result = purchases_post_batch([row, row, other, row], now=now, chunk_size=2)

    assert (result.created, result.skipped) == (2, 2)
    assert LedgerEntry.objects.filter(member=member).count() == 2
    assert PointsAccount.objects.get(member=member).balance == 150


def test_a_purchase_already_posted_by_a_till_is_skipped(member, program):
    now = timezone.now()
    PurchaseFactory(member=member, source="pos", external_id="T-9", amount=Decimal("50"), purchased_at=now)
    row = PurchaseRowFactory(member=member, source="pos", external_id="T-9", amount=Decimal("50"), purchased_at=now)

    result = purchases_post_batch([row], now=now)

    assert (result.created, result.skipped) == (0, 1)
    assert PointsAccount.objects.get(member=member).balance == 50


# --- Pending points and lots ------------------------------------------------------------------------------


def test_recent_purchases_wait_in_pending_and_old_ones_are_spendable(member, returns_window):
    now = timezone.now()
    old_at, recent_at = now - timedelta(days=20), now - timedelta(days=3)
    rows = [
        PurchaseRowFactory(member=member, source="pos", external_id="OLD", amount=Decimal("100"), purchased_at=old_at),
        PurchaseRowFactory(
            member=member, source="pos", external_id="NEW", amount=Decimal("40"), purchased_at=recent_at
        ),
    ]

    purchases_post_batch(rows, now=now)

    account = PointsAccount.objects.get(member=member)
    assert (account.balance, account.pending) == (100, 40)
    old = LedgerEntry.objects.get(idempotency_key="purchase:pos:OLD")
    new = LedgerEntry.objects.get(idempotency_key="purchase:pos:NEW")
    assert (old.bucket, old.available_at, old.created_at) == ("available", None, old_at)
    assert (new.bucket, new.available_at, new.created_at) == ("pending", recent_at + timedelta(days=14), recent_at)
    lot = PointsLot.objects.get(entry=old)
    # Spendable after the return window, so the 12 months of life count from then.
    assert (lot.remaining, lot.earned_at) == (100, old_at)
    assert lot.expires_at == add_months(old_at + timedelta(days=14), 12)
    assert not PointsLot.objects.filter(entry=new).exists()


# --- Tiers --------------------------------------------------------------------------------------------------


def test_a_big_batch_upgrades_tiers_and_later_purchases_earn_the_new_multiplier(member, program, tiers):
    now = timezone.now()
    rows = [
        PurchaseRowFactory(
            member=member, external_id=f"B{n}", amount=Decimal("800"), purchased_at=now - timedelta(days=10 - n)
        )
        for n in range(8)
    ]

    result = purchases_post_batch(rows, now=now)

    account = PointsAccount.objects.get(member=member)
    assert account.tier.code == "gold" and account.tier_since == now
    assert list(
        TierChange.objects.filter(member=member).order_by("id").values_list("to_tier__code", "reason_code")
    ) == [
        ("bronze", "tier_qualified"),
        ("silver", "tier_upgrade"),
        ("gold", "tier_upgrade"),
    ]
    assert result.tier_changes == 3
    points = list(LedgerEntry.objects.filter(member=member).order_by("created_at").values_list("points", flat=True))
    # 800 PLN at bronze (x1) until 1,000 PLN, silver (x1.25) until 5,000 PLN, then gold (x1.5).
    assert points == [800, 800, 1000, 1000, 1000, 1000, 1000, 1200]


def test_without_tier_recalculation_tiers_stay_for_the_nightly_job(member, program, tiers):
    now = timezone.now()
    rows = [
        PurchaseRowFactory(member=member, external_id=f"N{n}", amount=Decimal("900"), purchased_at=now)
        for n in range(3)
    ]

    result = purchases_post_batch(rows, now=now, recalculate_tiers=False)

    account = PointsAccount.objects.get(member=member)
    assert account.tier is None and result.tier_changes == 0
    assert account.balance == 2700


@pytest.mark.django_db
def test_looking_up_no_receipts_finds_none_without_a_query(member, program):
    # An import round made only of lines of purchases recorded earlier looks up no receipt at all.
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from rewards.batch.reading import recorded_purchases

    PurchaseFactory(member=member, source="till", external_id="R-1")
    with CaptureQueriesContext(connection) as queries:
        assert recorded_purchases([]) == {}
    assert len(queries) == 0
    found = recorded_purchases([("till", "R-1"), ("till", "R-2")])
    assert list(found) == [("till", "R-1")] and found[("till", "R-1")][:2] == (member.pk, member.member_number)
