"""The points economy's hand-written SQL (rewards.sql), each module on its own: what the posting paths build on."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from members.models import Purchase
from rewards.models import LedgerEntry, PointsAccount, PointsLot, ProgramSettings
from rewards.reasons import EXPIRED, Reason
from rewards.selectors import ledger_mismatches
from rewards.services import points_earn
from rewards.sql.accounts import (
    ACCOUNT_BY_MEMBER_SQL,
    ACCOUNT_FIELDS,
    account_points_add,
    account_row_lock,
    accounts_lock,
    accounts_save,
)
from rewards.sql.copying import allocate_ids
from rewards.sql.ledger import ENTRY_COLUMNS, balances_add, entries_write, entry_post, entry_values, lots_write
from rewards.sql.programme import config_version
from rewards.sql.tiers import tier_window_sum

postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="COPY and sequences: PostgreSQL")


@postgresql_only
@pytest.mark.django_db
def test_ids_drawn_beforehand_are_distinct_ascending_and_not_given_again_by_insert(member, program):
    ids = allocate_ids(LedgerEntry, 50)
    assert ids == sorted(set(ids)) and len(ids) == 50
    entry = points_earn(member=member, points=10, reason="after", idempotency_key="after")
    assert entry.pk not in ids and entry.pk > ids[-1]


@pytest.mark.django_db
def test_entries_lots_and_balances_written_as_sets_keep_the_ledger_equal_to_the_balances(make_member, program):
    first, second = make_member(), make_member()
    now = timezone.now()
    accounts_lock(sorted([first.pk, second.pk]))  # creates the missing accounts, empty
    entries = [
        entry_values(
            member_id=member.pk,
            kind=LedgerEntry.Kind.BONUS.value,
            points=points,
            reason=Reason(EXPIRED, {"earned": "2026-01-01", "note": "zażółć"}),
            reference=f"test:{n}",
            idempotency_key=f"test:{n}",
            at=now,
        )
        for n, (member, points) in enumerate([(first, 30), (second, 50), (first, 20)])
    ]
    ids = entries_write(entries, ids=True)
    lots_write(
        [
            (values[0], entry_id, values[3], values[3], now, now + timedelta(days=365))
            for values, entry_id in zip(entries, ids, strict=True)
        ]
    )
    balances_add({first.pk: 50, second.pk: 50})

    assert ledger_mismatches() == []
    assert PointsAccount.objects.get(member=first).balance == 50
    written = LedgerEntry.objects.get(pk=ids[1])
    assert (written.member_id, written.points, written.idempotency_key) == (second.pk, 50, "test:1")
    assert written.reason_params == {"earned": "2026-01-01", "note": "zażółć"}  # JSON through COPY, intact
    assert PointsLot.objects.get(entry_id=ids[2]).remaining == 20
    assert len(ENTRY_COLUMNS) == len(entries[0]) + 1  # the id first, left out here


@pytest.mark.django_db
def test_a_balance_taken_below_zero_is_refused_by_the_database(member, program):
    points_earn(member=member, points=10, reason="some", idempotency_key="some")
    with pytest.raises(IntegrityError), transaction.atomic():
        balances_add({member.pk: -11})
    assert PointsAccount.objects.get(member=member).balance == 10


@pytest.mark.django_db
def test_accounts_locked_in_sets_are_created_read_and_saved(make_member, program, tiers):
    first, second = make_member(), make_member()
    points_earn(member=first, points=40, reason="some", idempotency_key="some")
    with transaction.atomic():
        accounts = accounts_lock([first.pk, second.pk])
        assert sorted(accounts) == [first.pk, second.pk]
        assert (accounts[first.pk].balance, accounts[second.pk].balance) == (40, 0)
        accounts[second.pk].pending = 7
        accounts[second.pk].tier_id = tiers[0].pk
        accounts_save([accounts[second.pk]])
    saved = PointsAccount.objects.get(member=second)
    assert (saved.pending, saved.tier_id, saved.balance) == (7, tiers[0].pk, 0)
    assert PointsAccount.objects.get(member=first).balance == 40
    # Read back as the ORM reads the rows (PostgreSQL reads them in the binary format, loaded in C).
    with transaction.atomic():
        again = accounts_lock([first.pk, second.pk])
    orm = {row[1]: row for row in PointsAccount.objects.values_list(*ACCOUNT_FIELDS)}
    assert {member_id: tuple(getattr(row, name) for name in ACCOUNT_FIELDS) for member_id, row in again.items()} == orm


@pytest.mark.django_db
def test_one_account_read_by_its_member_and_points_added_to_it(member, program):
    points_earn(member=member, points=25, reason="some", idempotency_key="some")
    account = next(iter(PointsAccount.objects.raw(ACCOUNT_BY_MEMBER_SQL, [member.pk])))
    assert (account.member_id, account.balance) == (member.pk, 25)
    account_points_add(account_id=account.pk, column="pending", points=5)
    assert PointsAccount.objects.get(pk=account.pk).pending == 5
    with pytest.raises(IntegrityError), transaction.atomic():
        account_points_add(account_id=account.pk, column="balance", points=-26)


@pytest.mark.django_db
def test_one_account_locked_by_its_member_in_one_query_or_none_while_it_has_none(make_member, program):
    member, newcomer = make_member(), make_member()
    points_earn(member=member, points=25, reason="some", idempotency_key="some")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        account = account_row_lock(member.pk)
        assert account_row_lock(newcomer.pk) is None
    assert (account.member_id, account.balance, account.pending) == (member.pk, 25, 0)
    assert len(queries) == 2
    if connection.features.has_select_for_update:
        assert queries[0]["sql"].endswith("FOR UPDATE")


@pytest.mark.django_db
def test_the_tier_window_sums_spend_net_of_refunds_and_points_earned(member, program):
    now = timezone.now()
    for n, (days, amount, refunded) in enumerate([(10, "100.50", "0.50"), (40, "20", "0"), (400, "999", "0")]):
        Purchase.objects.create(
            member=member,
            source="pos",
            external_id=f"W{n}",
            amount=Decimal(amount),
            refunded_amount=Decimal(refunded),
            purchased_at=now - timedelta(days=days),
        )
    points_earn(member=member, points=70, reason="some", idempotency_key="some", at=now - timedelta(days=5))
    since = now - timedelta(days=365)
    assert tier_window_sum(member_id=member.pk, basis="spend", since=since, now=now) == Decimal("120.00")
    assert tier_window_sum(member_id=member.pk, basis="points", since=since, now=now) == Decimal(70)
    assert tier_window_sum(member_id=member.pk, basis="spend", since=now, now=now) == Decimal(0)


@pytest.mark.django_db
def test_the_configuration_version_moves_when_the_settings_change(program):
    before = config_version()
    settings = ProgramSettings.objects.get(pk=1)
    settings.pending_days += 1
    settings.save()
    assert config_version() is not None and config_version() != before


@postgresql_only
@pytest.mark.django_db
def test_one_entry_its_balance_and_its_lot_are_written_in_one_statement(member, program):
    account = accounts_lock([member.pk])[member.pk]
    now = timezone.now()
    expires = now + timedelta(days=365)
    values = (
        member.pk,
        "bonus",
        "available",
        40,
        "",
        "note",
        {"x": "zażółć"},
        None,
        "ref:1",
        [{"rule": "base"}],
        None,
        "one:1",
        None,
        now,
        None,
    )
    with CaptureQueriesContext(connection) as queries:
        entry_id = entry_post(values, account_id=account.id, column="balance", lot=(40, now, expires))
    assert len(queries) == 1
    entry = LedgerEntry.objects.get(pk=entry_id)
    assert (entry.points, entry.reason_params, entry.rules, entry.reference) == (
        40,
        {"x": "zażółć"},
        [{"rule": "base"}],
        "ref:1",
    )
    lot = PointsLot.objects.get(entry=entry)
    assert (lot.member_id, lot.points, lot.remaining, lot.expires_at) == (member.pk, 40, 40, expires)
    assert PointsAccount.objects.get(member=member).balance == 40
    # Pending points: no lot; a reversal points at the entry it reverses.
    pending = (member.pk, "earn", "pending", 7, "", "note", {}, None, "", [], None, "one:2", now, now, entry_id)
    second = entry_post(pending, account_id=account.id, column="pending")
    assert LedgerEntry.objects.get(pk=second).related_entry_id == entry_id
    assert not PointsLot.objects.filter(entry_id=second).exists()
    assert PointsAccount.objects.values_list("balance", "pending").get(member=member) == (40, 7)
    assert ledger_mismatches() == []


@postgresql_only
@pytest.mark.django_db
def test_one_entry_taking_the_balance_below_zero_writes_nothing(member, program):
    account = accounts_lock([member.pk])[member.pk]
    values = (
        member.pk,
        "adjust",
        "available",
        -5,
        "",
        "note",
        {},
        None,
        "",
        [],
        None,
        "one:neg",
        None,
        timezone.now(),
        None,
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        entry_post(values, account_id=account.id, column="balance")
    assert not LedgerEntry.objects.filter(idempotency_key="one:neg").exists()
    assert PointsAccount.objects.get(member=member).balance == 0
    with pytest.raises(ValueError, match="points column"):
        entry_post(values, account_id=account.id, column="tier_id")
