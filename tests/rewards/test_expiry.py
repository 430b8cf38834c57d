"""Points expiry: FIFO consumption, a job that is safe to run twice, written in sets for many members."""

from datetime import timedelta

from django.utils import timezone

from rewards.expiry import points_expire as expire_in_sets
from rewards.models import LedgerEntry, PointsAccount, PointsLot
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


def test_expiry_of_many_members_in_chunks_writes_one_entry_per_lot(make_member, program, django_assert_max_num_queries):
    now = timezone.now()
    members = [make_member() for _ in range(25)]
    for n, member in enumerate(members):
        for days in (500, 420, 30):
            points_earn(
                member=member, points=40, reason="e", idempotency_key=f"e{days}:{n}", at=now - timedelta(days=days)
            )
        points_redeem(member=member, points=30 + n % 10, reason="r", idempotency_key=f"r{n}")
    spare = make_member()  # nothing due
    points_earn(member=spare, points=40, reason="e", idempotency_key="spare", at=now - timedelta(days=30))

    # 25 members in chunks of 10: three chunks, a constant number of queries each, however many members.
    with django_assert_max_num_queries(3 * 10 + 2):
        assert expire_in_sets(now=now, members_per_chunk=10) == 50

    for n, member in enumerate(members):
        lots = list(PointsLot.objects.filter(member=member).order_by("earned_at"))
        entries = LedgerEntry.objects.filter(member=member, kind="expire").order_by("id")
        assert [(e.points, e.reference, e.idempotency_key, e.created_at) for e in entries] == [
            (-lot_left, f"lot:{lot.pk}", f"expire:{lot.pk}", now)
            for lot, lot_left in zip(lots, (10 - n % 10, 40), strict=False)
        ]
        earned = timezone.localdate(lots[0].earned_at).isoformat()
        assert (entries[0].reason, entries[0].reason_code, entries[0].reason_params) == (
            "",
            "expired",
            {"earned": earned},
        )
        assert [lot.remaining for lot in lots] == [0, 0, 40]
        assert PointsAccount.objects.get(member=member).balance == 40
    assert PointsAccount.objects.get(member=spare).balance == 40
    assert points_expire(now=now) == 0
    assert ledger_mismatches() == []


def test_a_history_written_afterwards_dates_each_expiry_when_its_lot_ran_out(member, program):
    now = timezone.now()
    points_earn(member=member, points=40, reason="e", idempotency_key="e1", at=now - timedelta(days=500))
    points_earn(member=member, points=40, reason="e", idempotency_key="e2", at=now - timedelta(days=400))

    assert points_expire(now=now, dated_at_expiry=True) == 2

    dated = LedgerEntry.objects.filter(kind="expire").order_by("id").values_list("created_at", flat=True)
    assert list(dated) == list(PointsLot.objects.order_by("id").values_list("expires_at", flat=True))
    assert ledger_mismatches() == []
