"""The nightly ledger check: a balance changed by hand is found, recorded, logged and shown to staff."""

import logging
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.urls import reverse

from rewards.models import LedgerCheck, LedgerEntry, PointsAccount, PointsLot
from rewards.selectors import ledger_mismatches
from rewards.services import points_earn, points_redeem, purchase_post
from rewards.tasks import ledger_reconcile_task
from tests.factories import StaffFactory

BANNER = 'id="ledger-check-alert"'


@pytest.fixture
def history(make_member, program):
    """Three members with earnings, a redemption, pending points and a purchase, all through the services."""
    members = [make_member() for _ in range(3)]
    points_earn(member=members[0], points=500, reason="welcome", idempotency_key="r1")
    points_redeem(member=members[0], points=120, reason="coffee", idempotency_key="r2")
    points_earn(member=members[1], points=80, reason="survey", idempotency_key="r3", hold_days=14)
    purchase_post(member=members[2], source="pos", external_id="R-1", amount=Decimal("250.00"))
    return members


def set_balance_by_hand(member, balance: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rewards_pointsaccount SET balance = %s WHERE member_id = %s", [balance, member.pk])


def staff(username: str, *, may_read_ledger: bool):
    user = StaffFactory(username=username)
    if may_read_ledger:
        user.user_permissions.add(Permission.objects.get(codename="view_ledgerentry"))
    return user


def test_clean_ledger_records_a_clean_check_and_no_banner(history, eager_celery, client):
    ledger_reconcile_task.delay()

    check = LedgerCheck.objects.get()
    assert (check.accounts_checked, check.mismatch_count, check.mismatches) == (3, 0, [])
    assert check.finished_at >= check.started_at
    client.force_login(staff("reader", may_read_ledger=True))
    assert BANNER not in client.get(reverse("admin:index")).content.decode()


def test_a_balance_set_by_hand_is_recorded_logged_and_shown_to_staff_who_may_read_the_ledger(
    history, eager_celery, client, caplog
):
    tampered = history[0]
    set_balance_by_hand(tampered, 999_999)

    with caplog.at_level(logging.ERROR, logger="rewards.reconciliation"):
        ledger_reconcile_task.delay()

    check = LedgerCheck.objects.get()
    assert check.mismatch_count == 1
    assert check.mismatches == [
        {
            "member_id": tampered.pk,
            "balance": 999_999,
            "pending": 0,
            "ledger_available": 380,
            "ledger_pending": 0,
            "lots": 380,
        }
    ]
    errors = [record for record in caplog.records if record.levelno == logging.ERROR]
    assert len(errors) == 1
    assert str(tampered.pk) in errors[0].getMessage()
    assert "1 of 3 accounts" in errors[0].getMessage()

    client.force_login(staff("reader", may_read_ledger=True))
    page = client.get(reverse("admin:index")).content.decode()
    assert BANNER in page
    assert reverse("admin:rewards_ledgercheck_change", args=[check.pk]) in page
    details = client.get(reverse("admin:rewards_ledgercheck_change", args=[check.pk])).content.decode()
    assert reverse("admin:members_member_change", args=[tampered.pk]) in details
    assert "999999" in details.replace("\xa0", "").replace(" ", "")

    client.force_login(staff("outsider", may_read_ledger=False))
    assert BANNER not in client.get(reverse("admin:index")).content.decode()
    assert client.get(reverse("admin:rewards_ledgercheck_changelist")).status_code == 403


def test_the_banner_goes_once_the_latest_check_is_clean(history, eager_celery, client):
    set_balance_by_hand(history[2], 1)
    ledger_reconcile_task.delay()
    set_balance_by_hand(history[2], PointsLot.objects.filter(member=history[2]).get().remaining)
    ledger_reconcile_task.delay()

    assert list(LedgerCheck.objects.values_list("mismatch_count", flat=True)) == [0, 1]  # newest first
    client.force_login(staff("reader", may_read_ledger=True))
    assert BANNER not in client.get(reverse("admin:index")).content.decode()


def test_the_check_run_twice_records_two_checks_and_changes_nothing_else(history, eager_celery):
    set_balance_by_hand(history[1], 7)

    def state():
        return (
            list(PointsAccount.objects.order_by("pk").values_list("member_id", "balance", "pending", "updated_at")),
            list(LedgerEntry.objects.order_by("pk").values_list("pk", "points", "bucket")),
            list(PointsLot.objects.order_by("pk").values_list("pk", "remaining")),
        )

    before = state()
    ledger_reconcile_task.delay()
    ledger_reconcile_task.delay()

    assert LedgerCheck.objects.count() == 2
    assert [check.mismatch_count for check in LedgerCheck.objects.all()] == [1, 1]
    assert state() == before


def test_the_pending_bucket_and_the_lots_are_checked_too(history):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rewards_pointsaccount SET pending = 0 WHERE member_id = %s", [history[1].pk])
        cursor.execute("UPDATE rewards_pointslot SET remaining = 1 WHERE member_id = %s", [history[2].pk])

    problems = ledger_mismatches()

    assert len(problems) == 2
    assert (problems[0]["member_id"], problems[0]["pending"], problems[0]["ledger"]["pending"]) == (
        history[1].pk,
        0,
        80,
    )
    assert problems[1]["member_id"] == history[2].pk
    assert problems[1]["lots"] == 1
    assert problems[1]["balance"] == problems[1]["ledger"]["available"]
    assert ledger_mismatches(member_ids=[history[0].pk]) == []
    assert [p["member_id"] for p in ledger_mismatches(member_ids=[history[2].pk])] == [history[2].pk]


def test_staff_who_may_read_the_ledger_can_run_the_check_now(
    history, eager_celery, client, django_capture_on_commit_callbacks
):
    client.force_login(staff("outsider", may_read_ledger=False))
    assert client.post(reverse("admin:rewards_ledgercheck_run")).status_code == 403

    client.force_login(staff("reader", may_read_ledger=True))
    listing = client.get(reverse("admin:rewards_ledgercheck_changelist")).content.decode()
    assert reverse("admin:rewards_ledgercheck_run") in listing
    assert client.get(reverse("admin:rewards_ledgercheck_run")).status_code == 405
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:rewards_ledgercheck_run"))

    assert response.status_code == 302
    assert LedgerCheck.objects.count() == 1
