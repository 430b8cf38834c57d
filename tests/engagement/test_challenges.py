"""Challenge progress from every posting path, completion once, refunds, audiences, recalculation."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty_site.files.importing import import_apply, import_preview
from members.models import Member, Purchase
from members.services import LineData
from rewards.batch import PurchaseRow, purchases_post_batch
from rewards.engagement import audiences
from rewards.engagement.models import BadgeAward, Challenge, ChallengeCompletion, ChallengeProgress
from rewards.engagement.services import challenge_recalculate, progress_values
from rewards.models import LedgerEntry, PointsAccount
from rewards.selectors import ledger_mismatches
from rewards.services import purchase_post, refund_post
from tests.rewards.test_imports import job, purchases_csv

pytestmark = pytest.mark.django_db


def _post(member, amount="20", external_id=None, **kwargs):
    return purchase_post(
        member=member,
        source="pos",
        external_id=external_id or uuid.uuid4().hex[:12],
        amount=Decimal(amount),
        purchased_at=kwargs.pop("purchased_at", timezone.now() - timedelta(hours=1)),
        **kwargs,
    )


def _progress(challenge, member):
    row = ChallengeProgress.objects.filter(challenge=challenge, member=member).first()
    return row.value if row else Decimal(0)


def _prize_entries(challenge, member):
    return LedgerEntry.objects.filter(idempotency_key=f"challenge:{challenge.pk}:{member.pk}")


def test_a_completing_purchase_posted_twice_awards_the_prize_once(member, program, make_challenge, badge):
    challenge = make_challenge(target=Decimal("2"), badge=badge)
    _post(member)
    assert _progress(challenge, member) == 1
    _post(member, external_id="R-2")
    _post(member, external_id="R-2")  # the till sends the completing receipt again
    assert _progress(challenge, member) == 2
    assert ChallengeCompletion.objects.filter(challenge=challenge, member=member).count() == 1
    assert _prize_entries(challenge, member).get().points == 500
    assert BadgeAward.objects.filter(member=member, badge=badge, challenge=challenge).count() == 1
    assert PointsAccount.objects.get(member=member).balance == 40 + 500
    assert list(ledger_mismatches()) == []


def test_the_batch_posted_twice_completes_once_for_many_members(make_member, program, make_challenge):
    challenge = make_challenge(target=Decimal("3"))
    spend = make_challenge(kind=Challenge.Kind.SPEND, target=Decimal("100"), points=50)
    members = [make_member() for _ in range(5)]
    at = timezone.now() - timedelta(hours=2)
    rows = [
        PurchaseRow(member_id=m.pk, source="pos", external_id=f"B-{m.pk}-{i}", amount=Decimal("40"), purchased_at=at)
        for m in members
        for i in range(3)
    ]
    purchases_post_batch(rows, chunk_size=4)
    purchases_post_batch(rows, chunk_size=4)
    for m in members:
        assert _progress(challenge, m) == 3
        assert _progress(spend, m) == Decimal("120")
        assert _prize_entries(challenge, m).count() == 1
        assert _prize_entries(spend, m).count() == 1
    assert ChallengeCompletion.objects.count() == 10
    assert list(ledger_mismatches()) == []


def test_the_batch_in_two_processes_completes_once(make_member, program, make_challenge, transactional_db):
    challenge = make_challenge(target=Decimal("2"))
    members = [make_member() for _ in range(6)]
    at = timezone.now() - timedelta(hours=2)
    rows = [
        PurchaseRow(member_id=m.pk, source="pos", external_id=f"W-{m.pk}-{i}", amount=Decimal("10"), purchased_at=at)
        for m in members
        for i in range(2)
    ]
    purchases_post_batch(rows, workers=2, chunk_size=3)
    purchases_post_batch(rows, workers=2, chunk_size=3)
    assert ChallengeCompletion.objects.filter(challenge=challenge).count() == 6
    assert LedgerEntry.objects.filter(idempotency_key__startswith=f"challenge:{challenge.pk}:").count() == 6
    assert list(ledger_mismatches()) == []


def test_the_purchases_import_twice_completes_once(
    make_member, program, make_challenge, staff_user, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    challenge = make_challenge(target=Decimal("2"), starts_at=timezone.now() - timedelta(days=90))
    members = [make_member() for _ in range(3)]
    content = purchases_csv(members, 6)  # two purchases each
    for _attempt in range(2):
        imported = import_preview(job=job("purchases", content, staff_user))
        import_apply(job=imported)
    assert Purchase.objects.count() == 6
    for m in members:
        assert _progress(challenge, m) == 2
        assert _prize_entries(challenge, m).count() == 1
    assert list(ledger_mismatches()) == []


def test_a_refund_lowers_the_progress_but_keeps_a_prize_already_awarded(member, program, make_challenge):
    challenge = make_challenge(target=Decimal("2"))
    spend = make_challenge(kind=Challenge.Kind.SPEND, target=Decimal("1000"), points=10)
    first = _post(member, amount="30").purchase
    _post(member, amount="30")
    assert _prize_entries(challenge, member).count() == 1
    refund_post(purchase=first, external_id="Z-1", amount=Decimal("30"))
    assert _progress(challenge, member) == 1
    assert _progress(spend, member) == Decimal("30")
    assert _prize_entries(challenge, member).count() == 1  # kept
    # A partial refund keeps the purchase counted and lowers the spend by what was refunded.
    third = _post(member, amount="50").purchase
    refund_post(purchase=third, external_id="Z-2", amount=Decimal("20"))
    assert _progress(challenge, member) == 2
    assert _progress(spend, member) == Decimal("60")
    assert list(ledger_mismatches()) == []


def test_purchases_outside_the_period_or_filters_do_not_count(member, program, make_challenge):
    now = timezone.now()
    challenge = make_challenge(
        kind=Challenge.Kind.CATEGORY,
        category="kawa",
        store="store-01",
        target=Decimal("2"),
        starts_at=now - timedelta(days=2),
    )
    line = LineData(sku="K1", amount=Decimal("20"), category="kawa")
    _post(member, store="store-01", lines=[line], purchased_at=now - timedelta(days=3))  # before the start
    _post(member, store="store-02", lines=[line])  # another store
    _post(member, store="store-01", lines=[LineData(sku="H1", amount=Decimal("20"), category="herbata")])
    _post(member, store="store-01", lines=[line])
    assert _progress(challenge, member) == 1


def test_new_store_and_first_purchase(make_member, program, make_challenge):
    member = make_member()
    now = timezone.now()
    new_store = make_challenge(kind=Challenge.Kind.NEW_STORE, target=Decimal("2"), starts_at=now - timedelta(days=1))
    first = make_challenge(kind=Challenge.Kind.FIRST_PURCHASE, target=Decimal("1"), starts_at=now - timedelta(days=30))
    _post(member, store="store-01", purchased_at=now - timedelta(days=5))  # before the new-store challenge
    assert _progress(first, member) == 1
    _post(member, store="store-01")  # known store
    _post(member, store="online")
    _post(member, store="online")  # the same new channel again
    assert _progress(new_store, member) == 1
    assert _progress(first, member) == 1
    _post(member, store="store-07")
    assert _progress(new_store, member) == 2
    assert ChallengeCompletion.objects.filter(member=member).count() == 2
    assert progress_values(challenge=new_store, member_ids=[member.pk]) == {member.pk: Decimal(2)}
    assert progress_values(challenge=first, member_ids=[member.pk]) == {member.pk: Decimal(1)}


def test_tier_audience_counts_only_members_of_that_tier_or_higher(make_member, program, tiers, make_challenge):
    challenge = make_challenge(audience=Challenge.Audience.TIER, tier=tiers[1], target=Decimal("1"))
    low, high = make_member(), make_member()
    _post(high, amount="1500")  # reaches silver with this purchase
    _post(low, amount="10")
    _post(high, amount="10")
    assert _progress(challenge, low) == 0
    assert _progress(challenge, high) >= 1
    assert _prize_entries(challenge, high).count() == 1


def test_a_registered_audience_kind(make_member, program, make_challenge):
    inside, outside = make_member(city="Kraków"), make_member(city="Gdańsk")
    audiences.register(
        "city",
        label="City",
        choices=lambda: [("krakow", "Kraków")],
        members=lambda ref: Member.objects.filter(city="Kraków"),
    )
    try:
        challenge = make_challenge(
            audience=Challenge.Audience.KIND, audience_kind="city", audience_ref="krakow", target=Decimal("1")
        )
        _post(inside)
        _post(outside)
        assert _progress(challenge, inside) == 1
        assert _progress(challenge, outside) == 0
        assert "city" in [kind.code for kind in audiences.kinds()]  # beside campaigns' "segment"
    finally:
        audiences.unregister("city")


def test_recalculation_of_a_challenge_created_after_the_purchases_awards_once(make_member, program, make_challenge):
    members = [make_member() for _ in range(3)]
    for m in members:
        _post(m, amount="60")
        _post(m, amount="60")
    challenge = make_challenge(kind=Challenge.Kind.SPEND, target=Decimal("100"))
    assert challenge_recalculate(challenge=challenge) == 3
    assert challenge_recalculate(challenge=challenge) == 0
    assert LedgerEntry.objects.filter(idempotency_key__startswith=f"challenge:{challenge.pk}:").count() == 3
    assert list(ledger_mismatches()) == []


def test_the_incremental_progress_equals_the_recalculated(make_member, program, make_challenge):
    import random

    rnd = random.Random(7)
    kinds = [Challenge.Kind.PURCHASES, Challenge.Kind.SPEND, Challenge.Kind.NEW_STORE, Challenge.Kind.FIRST_PURCHASE]
    challenges = [make_challenge(kind=kind, target=Decimal("100000")) for kind in kinds]
    members = [make_member() for _ in range(4)]
    now = timezone.now()
    rows = [
        PurchaseRow(
            member_id=rnd.choice(members).pk,
            source="pos",
            external_id=f"X{i}",
            amount=Decimal(rnd.randint(1, 300)),
            purchased_at=now - timedelta(days=20 - i // 3),
            store=rnd.choice(["online", "s1", "s2", "s3"]),
        )
        for i in range(40)
    ]
    purchases_post_batch(rows[:20], chunk_size=7)
    for row in rows[20:]:
        _post(
            Member.objects.get(pk=row.member_id), amount=str(row.amount), purchased_at=row.purchased_at, store=row.store
        )
    for challenge in challenges:
        stored = dict(ChallengeProgress.objects.filter(challenge=challenge).values_list("member_id", "value"))
        assert stored == progress_values(challenge=challenge), challenge.kind


def test_the_same_set_of_events_processed_twice_awards_the_prize_once(member, program, make_challenge):
    """Paths announce a purchase once; even if a set reached the receiver twice, the prize would not double."""
    from rewards.engagement.services import challenges_progress_purchases
    from rewards.events import PurchasePosted

    challenge = make_challenge(target=Decimal("1"))
    posted = _post(member).purchase
    event = PurchasePosted(
        member_id=member.pk,
        purchase_id=posted.pk,
        amount=posted.amount,
        purchased_at=posted.purchased_at,
        store=posted.store,
        source=posted.source,
        categories=(),
        points=0,
    )
    assert challenges_progress_purchases(events=[event]) == 0  # completed already by the post itself
    assert _prize_entries(challenge, member).count() == 1
    assert ChallengeCompletion.objects.filter(challenge=challenge, member=member).count() == 1
    assert list(ledger_mismatches()) == []


def test_the_cached_challenges_follow_every_change_without_a_query_of_their_own(member, program, make_challenge):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _post(member)  # warm the caches
    challenge = make_challenge(target=Decimal("5"))
    _post(member)
    assert _progress(challenge, member) == 1
    Challenge.objects.filter(pk=challenge.pk).update(is_active=False)  # a bulk update sends no signal
    _post(member)
    assert _progress(challenge, member) == 1
    Challenge.objects.filter(pk=challenge.pk).update(is_active=True)
    _post(member)
    with CaptureQueriesContext(connection) as queries:
        _post(member)
    assert _progress(challenge, member) == 3
    assert not any('engagement_challenge"' in q["sql"] and q["sql"].startswith("SELECT") for q in queries)
