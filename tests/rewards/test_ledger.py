"""The points ledger: idempotency, append-only enforcement, balances equal to the ledger."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rewards.models import LedgerEntry, PointsAccount
from rewards.reasons import entry_reason
from rewards.selectors import ledger_mismatches, member_standing
from rewards.services import (
    InsufficientPoints,
    PointsError,
    points_adjust,
    points_earn,
    points_expire,
    points_redeem,
    points_reverse,
    purchase_post,
)


def balance(member):
    return PointsAccount.objects.get(member=member).balance


def test_earn_and_redeem_move_the_balance(member, program):
    points_earn(member=member, points=500, reason="welcome", idempotency_key="k1")
    points_redeem(member=member, points=200, reason="coffee", idempotency_key="k2")
    assert balance(member) == 300
    assert ledger_mismatches() == []


def test_redeem_refuses_when_balance_too_low(member, program):
    points_earn(member=member, points=100, reason="welcome", idempotency_key="k1")
    with pytest.raises(InsufficientPoints) as info:
        points_redeem(member=member, points=101, reason="too much", idempotency_key="k2")
    assert str(info.value) == "Saldo wynosi 100 punktów; potrzeba 101."
    assert balance(member) == 100
    assert LedgerEntry.objects.filter(member=member).count() == 1


def test_same_idempotency_key_posts_once(member, program):
    first = points_earn(member=member, points=50, reason="a", idempotency_key="same")
    second = points_earn(member=member, points=50, reason="a", idempotency_key="same")
    assert first.pk == second.pk
    assert balance(member) == 50


def test_same_purchase_posted_twice_gives_one_earn_entry(member, program):
    kwargs = {"member": member, "source": "pos", "external_id": "R-1", "amount": Decimal("120.50")}
    first = purchase_post(**kwargs)
    second = purchase_post(**kwargs)
    assert first.created and not second.created
    assert LedgerEntry.objects.filter(member=member, kind="earn").count() == 1
    assert balance(member) == 120


def test_a_purchase_recorded_for_another_member_is_refused_not_returned(make_member, program):
    first, second = make_member(), make_member()
    purchase_post(member=first, source="pos", external_id="X-1", amount=Decimal("50"))

    with pytest.raises(PointsError, match=f"już zapisany dla członka {first.member_number}"):
        purchase_post(member=second, source="pos", external_id="X-1", amount=Decimal("50"))

    assert not LedgerEntry.objects.filter(member=second).exists()
    assert PointsAccount.objects.get(member=first).balance == 50


def test_adjust_needs_a_reason_and_records_the_actor(member, program, staff_user):
    with pytest.raises(PointsError) as info:
        points_adjust(member=member, points=10, reason="  ", actor=staff_user)
    assert str(info.value) == "Korekta wymaga podania powodu."
    entry = points_adjust(member=member, points=10, reason="goodwill", actor=staff_user)
    assert entry.actor == staff_user and entry.kind == "adjust"
    with pytest.raises(InsufficientPoints) as info:
        points_adjust(member=member, points=-11, reason="too much", actor=staff_user)
    assert str(info.value) == "Saldo wynosi 10 punktów; nie można odjąć 11."


@pytest.mark.django_db(transaction=True)
def test_raw_sql_update_or_delete_of_a_ledger_entry_fails(member, program):
    if connection.vendor != "postgresql":
        pytest.skip("the trigger test is about PostgreSQL")
    entry = points_earn(member=member, points=10, reason="x", idempotency_key="raw")
    for sql in (
        "UPDATE rewards_ledgerentry SET points = 1000 WHERE id = %s",
        "DELETE FROM rewards_ledgerentry WHERE id = %s",
    ):
        with pytest.raises(IntegrityError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(sql, [entry.pk])
    assert LedgerEntry.objects.get(pk=entry.pk).points == 10


def test_database_refuses_a_negative_balance(member, program):
    with pytest.raises(IntegrityError), transaction.atomic():
        PointsAccount.objects.create(member=member, balance=-1)


def test_reverse_of_spent_points_stops_at_zero(member, program):
    earn = points_earn(member=member, points=100, reason="a", idempotency_key="e")
    points_redeem(member=member, points=80, reason="b", idempotency_key="r")
    reversal = points_reverse(entry=earn, reason="refund")
    assert reversal.points == -20
    assert balance(member) == 0
    assert (reversal.reason, reversal.reason_code, reversal.reason_params) == ("refund", "note", {"short": 80})
    with translation.override("en"):
        assert entry_reason(reversal) == "refund (limited to the balance: 80 points already spent)"
    assert ledger_mismatches() == []


def test_refund_reverses_points_of_what_was_refunded(member, program):
    from rewards.services import refund_post

    posted = purchase_post(member=member, source="pos", external_id="R-9", amount=Decimal("200.00"))
    refund_post(purchase=posted.purchase, external_id="RF-1", amount=Decimal("50.00"))
    assert balance(member) == 150
    refund_post(purchase=posted.purchase, external_id="RF-1", amount=Decimal("50.00"))  # repeated: no-op
    assert balance(member) == 150
    refund_post(purchase=posted.purchase, external_id="RF-2", amount=Decimal("150.00"))
    assert balance(member) == 0
    assert ledger_mismatches() == []


def test_refund_beyond_the_amount_is_refused_and_changes_nothing(member, program):
    from members.services import MemberError
    from rewards.services import refund_post

    posted = purchase_post(member=member, source="pos", external_id="R-10", amount=Decimal("100.00"))
    with pytest.raises(MemberError) as info:
        refund_post(purchase=posted.purchase, external_id="RF-X", amount=Decimal("100.01"))
    assert str(info.value) == "Z tego zakupu do zwrotu zostało tylko 100,00 zł; żądano 100,01 zł."
    assert balance(member) == 100


def test_pending_points_wait_for_the_return_window(member, program):
    program.pending_days = 14
    program.save()
    now = timezone.now()
    purchase_post(member=member, source="pos", external_id="P-1", amount=Decimal("300"), now=now, purchased_at=now)
    standing = member_standing(member=member)
    assert (standing.balance, standing.pending) == (0, 300)
    with pytest.raises(InsufficientPoints):
        points_redeem(member=member, points=1, reason="x", idempotency_key="r")
    from rewards.services import points_release_pending

    assert points_release_pending(now=now + timedelta(days=13)) == 0
    assert points_release_pending(now=now + timedelta(days=15)) == 1
    assert points_release_pending(now=now + timedelta(days=16)) == 0
    standing = member_standing(member=member)
    assert (standing.balance, standing.pending) == (300, 0)
    assert ledger_mismatches() == []


def test_refund_inside_the_return_window_takes_pending_points(member, program):
    from rewards.services import points_release_pending, refund_post

    program.pending_days = 14
    program.save()
    now = timezone.now()
    posted = purchase_post(member=member, source="pos", external_id="P-2", amount=Decimal("100"), purchased_at=now)
    refund_post(purchase=posted.purchase, external_id="RF", amount=Decimal("40"))
    assert PointsAccount.objects.get(member=member).pending == 60
    points_release_pending(now=now + timedelta(days=15))
    account = PointsAccount.objects.get(member=member)
    assert (account.balance, account.pending) == (60, 0)
    assert ledger_mismatches() == []


operations = st.lists(
    st.tuples(st.sampled_from(["earn", "redeem", "expire", "reverse", "adjust"]), st.integers(1, 500)),
    min_size=1,
    max_size=25,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_balance_always_equals_the_sum_of_the_ledger(make_member, program, staff_user, ops):
    member = make_member()
    now = timezone.now()
    credits = []
    for i, (op, points) in enumerate(ops):
        try:
            if op == "earn":
                credits.append(
                    points_earn(
                        member=member,
                        points=points,
                        reason="e",
                        idempotency_key=f"{member.pk}:{i}",
                        at=now - timedelta(days=points),
                    )
                )
            elif op == "redeem":
                points_redeem(member=member, points=points, reason="r", idempotency_key=f"{member.pk}:{i}")
            elif op == "expire":
                points_expire(now=now + timedelta(days=365 - points))
            elif op == "reverse" and credits:
                points_reverse(
                    entry=credits[points % len(credits)], reason="x", points=points, idempotency_key=f"{member.pk}:{i}"
                )
            elif op == "adjust":
                points_adjust(member=member, points=points if i % 2 else -points, reason="fix", actor=staff_user)
        except (InsufficientPoints, PointsError):
            pass
        account = PointsAccount.objects.filter(member=member).first()
        assert account is None or account.balance >= 0
        assert ledger_mismatches(member_ids=[member.pk]) == []


def test_release_keeps_going_after_many_released_credits(make_member, program):
    from rewards.services import points_release_pending

    program.pending_days = 14
    program.save()
    now = timezone.now()
    member = make_member()
    for i in range(21):
        purchase_post(member=member, source="pos", external_id=f"REL-{i}", amount=Decimal("10"), purchased_at=now)
    later = now + timedelta(days=15)
    # batch_size=1 looks at 20 due credits per run: the 20 released ones must not crowd out the 21st.
    assert points_release_pending(now=later, batch_size=1) == 20
    assert points_release_pending(now=later, batch_size=1) == 1
    assert PointsAccount.objects.get(member=member).pending == 0
    assert ledger_mismatches() == []
