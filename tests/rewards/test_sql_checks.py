"""The ledger check's statement (rewards.sql.checks) on its own: each way an account can differ from its ledger
is found, a correct account is not, and the check can be limited to some members."""

import pytest

from rewards.models import PointsAccount, PointsLot
from rewards.services import points_earn, points_redeem
from rewards.sql.checks import AccountMismatch, account_mismatches

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(make_member, program):
    """Four members, each with spendable points (some spent), pending points and lots, all through the services."""
    members = [make_member() for _ in range(4)]
    for n, member in enumerate(members):
        points_earn(member=member, points=100 + n, reason="welcome", idempotency_key=f"welcome-{n}")
        points_earn(member=member, points=30, reason="survey", idempotency_key=f"survey-{n}", hold_days=14)
        points_redeem(member=member, points=40, reason="coffee", idempotency_key=f"coffee-{n}")
    return members


def test_accounts_equal_to_their_ledger_and_lots_are_not_reported(accounts, make_member):
    make_member()  # never earned: no account, nothing to check
    assert account_mismatches() == []
    assert account_mismatches(member_ids=[member.pk for member in accounts]) == []


def test_a_balance_that_differs_from_the_ledger_and_the_lots_is_found(accounts):
    PointsAccount.objects.filter(member=accounts[1]).update(balance=7)

    assert account_mismatches() == [
        AccountMismatch(
            member_id=accounts[1].pk, balance=7, pending=30, ledger_available=61, ledger_pending=30, lots=61
        )
    ]


def test_pending_points_that_differ_from_the_pending_bucket_are_found(accounts):
    PointsAccount.objects.filter(member=accounts[2]).update(pending=0)

    assert account_mismatches() == [
        AccountMismatch(
            member_id=accounts[2].pk, balance=62, pending=0, ledger_available=62, ledger_pending=30, lots=62
        )
    ]


def test_lots_that_no_longer_add_up_to_the_balance_are_found(accounts):
    lot = PointsLot.objects.filter(member=accounts[3], remaining__gt=0).order_by("pk").first()
    PointsLot.objects.filter(pk=lot.pk).update(remaining=lot.remaining - 1)

    assert account_mismatches() == [
        AccountMismatch(
            member_id=accounts[3].pk, balance=63, pending=30, ledger_available=63, ledger_pending=30, lots=62
        )
    ]


def test_an_account_with_no_ledger_at_all_is_compared_with_zero(accounts, make_member):
    lonely = make_member()
    PointsAccount.objects.create(member=lonely, balance=5)

    assert account_mismatches() == [
        AccountMismatch(member_id=lonely.pk, balance=5, pending=0, ledger_available=0, ledger_pending=0, lots=0)
    ]


def test_the_check_limited_to_some_members_reports_only_theirs_in_member_order(accounts):
    PointsAccount.objects.filter(member__in=[accounts[0], accounts[2], accounts[3]]).update(balance=1)
    ids = [accounts[3].pk, accounts[0].pk]

    assert [row.member_id for row in account_mismatches(member_ids=ids)] == sorted(ids)
    assert [row.member_id for row in account_mismatches(member_ids=iter(ids))] == sorted(ids)  # any iterable
    assert account_mismatches(member_ids=[accounts[1].pk]) == []
    assert account_mismatches(member_ids=[]) == []
    assert len(account_mismatches()) == 3
