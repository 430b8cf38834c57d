"""The batch posting path: the same points, ledger, lots and tiers as purchase_post row by row, written in bulk."""

import os
import random
import threading
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.utils import timezone

from members.models import Member, Purchase, PurchaseLine
from members.services import LineData
from rewards.batch import PurchaseRow, purchases_post_batch
from rewards.models import EarningRule, LedgerEntry, PointsAccount, PointsLot, TierChange
from rewards.selectors import ledger_mismatches
from rewards.services import add_months, points_redeem, purchase_post

CATEGORIES = ["Spożywcze", "Kosmetyki", "Alkohol", "Dom"]


@pytest.fixture
def returns_window(program):
    """Points wait 14 days in pending; lots expire after 12 months."""
    program.pending_days = 14
    program.save()
    return program


@pytest.fixture
def rules(tiers):
    silver = tiers[1]
    return [
        EarningRule.objects.create(
            name="Kosmetyki x2", kind="multiplier", multiplier=Decimal("2"), category="Kosmetyki"
        ),
        EarningRule.objects.create(name="Bez alkoholu", kind="exclude", category="Alkohol"),
        EarningRule.objects.create(
            name="Weekend x2", kind="multiplier", multiplier=Decimal("2"), weekdays="6,7", max_points=150
        ),
        EarningRule.objects.create(name="Koszyk 300 +40", kind="bonus", bonus_points=40, min_basket=Decimal("300")),
        EarningRule.objects.create(
            name="Srebrni online x1.5", kind="multiplier", multiplier=Decimal("1.5"), tier=silver, store="online"
        ),
    ]


def random_rows(member_ids, count, *, now, seed=7, days=60):
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        amount = Decimal(rng.randint(100, 90000)) / 100
        lines = ()
        if rng.random() < 0.4:
            parts = rng.randint(1, 3)
            share = (amount / parts).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
            lines = tuple(
                LineData(sku=f"S{rng.randint(1, 9)}", category=rng.choice(CATEGORIES), amount=share)
                for _ in range(parts)
            )
        rows.append(
            PurchaseRow(
                member_id=rng.choice(member_ids),
                source="pos",
                external_id=f"P{n:05d}",
                amount=amount,
                purchased_at=now - timedelta(days=days * (1 - n / count), minutes=rng.randint(0, 600)),
                store=rng.choice(["online", "WAW01"]),
                lines=lines,
            )
        )
    return rows


def post_one_by_one(rows, twins, *, now, source="till"):
    """The same rows through purchase_post, for twin members, under another source (so new keys)."""
    for row in rows:
        purchase_post(
            member=twins[row.member_id],
            source=source,
            external_id=row.external_id,
            amount=row.amount,
            purchased_at=row.purchased_at,
            store=row.store,
            lines=row.lines,
            now=now,
        )


def snapshot(member):
    """Everything points-related about a member that does not depend on ids or the purchase source."""
    account = PointsAccount.objects.select_related("tier").get(member=member)
    return {
        "balance": account.balance,
        "pending": account.pending,
        "tier": account.tier.code if account.tier else None,
        "tier_since": account.tier_since,
        "tier_below_since": account.tier_below_since,
        # Entries other than purchase credits (a redemption) are stamped with the clock: compare them without it.
        "entries": [
            (*entry[:-1], entry[-1] if entry[0] == "earn" else None)
            for entry in LedgerEntry.objects.filter(member=member)
            .order_by("created_at", "id")
            .values_list(
                "kind",
                "bucket",
                "points",
                "reason",
                "reason_code",
                "reason_params",
                "rules",
                "available_at",
                "purchase__amount",
                "created_at",
            )
        ],
        "lots": list(
            PointsLot.objects.filter(member=member)
            .order_by("earned_at", "id")
            .values_list("points", "remaining", "earned_at", "expires_at", "entry__reason_code", "entry__reason_params")
        ),
        "tier_changes": list(
            TierChange.objects.filter(member=member)
            .order_by("id")
            .values_list("from_tier__code", "to_tier__code", "reason", "reason_code", "reason_params", "changed_at")
        ),
        "purchases": list(
            Purchase.objects.filter(member=member)
            .order_by("purchased_at", "id")
            .values_list("external_id", "amount", "store", "purchased_at", "refunded_amount")
        ),
        "lines": sorted(
            PurchaseLine.objects.filter(purchase__member=member).values_list(
                "purchase__external_id", "sku", "category", "amount", "quantity"
            )
        ),
    }


@pytest.fixture
def pairs(make_member):
    """Four members for the batch and a twin of each for posting one by one."""
    originals = [make_member() for _ in range(4)]
    return {member.pk: make_member() for member in originals}


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
    row = PurchaseRow(
        member_id=member.pk,
        source="pos",
        external_id="X-1",
        amount=Decimal("120"),
        purchased_at=now - timedelta(days=1),
    )
    other = PurchaseRow(
        member_id=member.pk, source="web", external_id="X-1", amount=Decimal("30"), purchased_at=now - timedelta(days=1)
    )

    result = purchases_post_batch([row, row, other, row], now=now, chunk_size=2)

    assert (result.created, result.skipped) == (2, 2)
    assert LedgerEntry.objects.filter(member=member).count() == 2
    assert PointsAccount.objects.get(member=member).balance == 150


def test_a_purchase_already_posted_by_a_till_is_skipped(member, program):
    now = timezone.now()
    purchase_post(member=member, source="pos", external_id="T-9", amount=Decimal("50"), purchased_at=now)
    row = PurchaseRow(member_id=member.pk, source="pos", external_id="T-9", amount=Decimal("50"), purchased_at=now)

    result = purchases_post_batch([row], now=now)

    assert (result.created, result.skipped) == (0, 1)
    assert PointsAccount.objects.get(member=member).balance == 50


def test_recent_purchases_wait_in_pending_and_old_ones_are_spendable(member, returns_window):
    now = timezone.now()
    old_at, recent_at = now - timedelta(days=20), now - timedelta(days=3)
    rows = [
        PurchaseRow(member_id=member.pk, source="pos", external_id="OLD", amount=Decimal("100"), purchased_at=old_at),
        PurchaseRow(member_id=member.pk, source="pos", external_id="NEW", amount=Decimal("40"), purchased_at=recent_at),
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


def test_ledger_equals_balances_after_a_batch(make_member, returns_window, rules):
    members = [make_member() for _ in range(6)]
    now = timezone.now()

    purchases_post_batch(random_rows([m.pk for m in members], 120, now=now), now=now, chunk_size=25)

    assert ledger_mismatches() == []
    assert PointsAccount.objects.filter(member__in=members).count() == 6


def test_a_big_batch_upgrades_tiers_and_later_purchases_earn_the_new_multiplier(member, program, tiers):
    now = timezone.now()
    rows = [
        PurchaseRow(
            member_id=member.pk,
            source="pos",
            external_id=f"B{n}",
            amount=Decimal("800"),
            purchased_at=now - timedelta(days=10 - n),
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
        PurchaseRow(member_id=member.pk, source="pos", external_id=f"N{n}", amount=Decimal("900"), purchased_at=now)
        for n in range(3)
    ]

    result = purchases_post_batch(rows, now=now, recalculate_tiers=False)

    account = PointsAccount.objects.get(member=member)
    assert account.tier is None and result.tier_changes == 0
    assert account.balance == 2700


def test_unknown_and_inactive_members_are_refused_and_named(make_member, program):
    active, suspended = make_member(), make_member()
    Member.objects.filter(pk=suspended.pk).update(status=Member.Status.SUSPENDED)
    now = timezone.now()
    rows = [
        PurchaseRow(member_id=suspended.pk, source="pos", external_id="S1", amount=Decimal("10"), purchased_at=now),
        PurchaseRow(member_id=active.pk, source="pos", external_id="A1", amount=Decimal("10"), purchased_at=now),
        PurchaseRow(member_id=999_999, source="pos", external_id="U1", amount=Decimal("10"), purchased_at=now),
    ]

    result = purchases_post_batch(rows, now=now)

    assert (result.created, result.refused) == (1, 2)
    assert [(r.index, r.external_id) for r in result.refusals] == [(0, "S1"), (2, "U1")]
    assert result.refusals[0].reason == f"Członek {suspended.member_number} jest zawieszony."
    assert result.refusals[1].reason == "Brak członka o identyfikatorze 999999."
    assert not PointsAccount.objects.filter(member=suspended).exists()
    assert not Purchase.objects.filter(external_id__in=["S1", "U1"]).exists()


def test_invalid_amounts_are_refused_and_the_rest_posted(member, program):
    now = timezone.now()
    rows = [
        PurchaseRow(member_id=member.pk, source="pos", external_id="NEG", amount=Decimal("-5"), purchased_at=now),
        PurchaseRow(
            member_id=member.pk,
            source="pos",
            external_id="LINES",
            amount=Decimal("10"),
            purchased_at=now,
            lines=(LineData(sku="A", amount=Decimal("8")), LineData(sku="B", amount=Decimal("8"))),
        ),
        PurchaseRow(member_id=member.pk, source="pos", external_id="OK", amount=Decimal("25"), purchased_at=now),
        # The refused row's id is free: a corrected row later in the batch is posted.
        PurchaseRow(member_id=member.pk, source="pos", external_id="NEG", amount=Decimal("5"), purchased_at=now),
    ]

    result = purchases_post_batch(rows, now=now)

    assert (result.created, result.refused) == (2, 2)
    assert [r.external_id for r in result.refusals] == ["NEG", "LINES"]
    assert result.refusals[1].reason == "Suma kwot pozycji przekracza kwotę zakupu."
    assert PointsAccount.objects.get(member=member).balance == 30


def test_a_purchase_without_points_is_recorded_without_an_entry(member, program):
    EarningRule.objects.create(name="Bez alkoholu", kind="exclude", category="Alkohol")
    now = timezone.now()
    row = PurchaseRow(
        member_id=member.pk,
        source="pos",
        external_id="ALK",
        amount=Decimal("60"),
        purchased_at=now,
        lines=(LineData(sku="W1", category="Alkohol", amount=Decimal("60")),),
    )

    result = purchases_post_batch([row], now=now)

    assert (result.created, result.entries, result.points) == (1, 0, 0)
    assert PurchaseLine.objects.filter(purchase__external_id="ALK").count() == 1
    assert PointsAccount.objects.get(member=member).balance == 0


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_batch_beside_concurrent_single_posts_keeps_the_ledger_exact(make_member, program, tiers):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    members = [make_member() for _ in range(5)]
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


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("chunk_size", [30, 2])  # one round of rows per process, and several
def test_two_processes_give_each_member_what_posting_one_by_one_gives(pairs, returns_window, rules, chunk_size):
    if connection.vendor != "postgresql":
        pytest.skip("processes need PostgreSQL")
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


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_refusals_from_processes_name_the_rows_as_given(make_member, program):
    if connection.vendor != "postgresql":
        pytest.skip("processes need PostgreSQL")
    members = [make_member() for _ in range(4)]
    Member.objects.filter(pk=members[1].pk).update(status=Member.Status.SUSPENDED)
    now = timezone.now()
    rows = [
        PurchaseRow(
            member_id=members[n % 4].pk, source="pos", external_id=f"R{n}", amount=Decimal("10"), purchased_at=now
        )
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


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("failure", ["raises", "dies"])
def test_a_failing_process_fails_the_batch_and_a_rerun_completes_it(pairs, program, failure):
    if connection.vendor != "postgresql":
        pytest.skip("processes need PostgreSQL")
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


def test_a_receipt_recorded_for_another_member_is_refused_not_skipped(make_member, program):
    first, second = make_member(), make_member()
    now = timezone.now()
    purchase_post(member=first, source="pos", external_id="R-1", amount=Decimal("40"), purchased_at=now)
    rows = [
        PurchaseRow(member_id=second.pk, source="pos", external_id="R-1", amount=Decimal("40"), purchased_at=now),
        PurchaseRow(member_id=second.pk, source="pos", external_id="R-2", amount=Decimal("30"), purchased_at=now),
        PurchaseRow(member_id=first.pk, source="pos", external_id="R-2", amount=Decimal("30"), purchased_at=now),
        PurchaseRow(member_id=first.pk, source="pos", external_id="R-1", amount=Decimal("40"), purchased_at=now),
    ]

    result = purchases_post_batch(rows, now=now)

    assert (result.created, result.skipped, result.refused) == (1, 1, 2)
    assert [(r.index, r.about) for r in result.refusals] == [(0, "external_id"), (2, "external_id")]
    assert result.refusals[0].reason == f"Zakup R-1 ze źródła pos jest już zapisany dla członka {first.member_number}."
    assert result.refusals[1].reason.endswith(f"dla członka {second.member_number}.")
    assert PointsAccount.objects.get(member=second).balance == 30
    assert ledger_mismatches() == []
