"""A lot's member is its entry's: one foreign key (entry_id, member_id) to the ledger's (id, member_id), in place of
one to each table (migration rewards 0017), and the migration both ways on a demo database."""

from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils import timezone

from members.models import Member
from rewards.batch import PurchaseRow, purchases_post_batch
from rewards.models import LedgerEntry, PointsLot
from rewards.selectors import ledger_mismatches
from rewards.services import members_merge, purchase_post

BEFORE = ("rewards", "0016_reward_category_to_categories")
AFTER = ("rewards", "0017_lot_entry_member")


def _constraints(table: str) -> dict[str, dict]:
    with connection.cursor() as cursor:
        return connection.introspection.get_constraints(cursor, table)


def _foreign_keys(table: str) -> dict[tuple[str, ...], tuple[str, str]]:
    return {
        tuple(found["columns"]): found["foreign_key"]
        for found in _constraints(table).values()
        if found["foreign_key"] is not None
    }


@pytest.mark.django_db(transaction=True)
def test_a_lot_naming_another_member_than_its_entry_is_refused(make_member, program):
    owner, other = make_member(), make_member()
    purchase_post(member=owner, source="pos", external_id="R-1", amount=Decimal("100"), purchased_at=timezone.now())
    lot = PointsLot.objects.get(member=owner)
    # Checked at commit (deferred, as Django declares its foreign keys): the transaction is refused whole.
    with pytest.raises(IntegrityError, match="lot_entry_member"), transaction.atomic():
        PointsLot.objects.filter(pk=lot.pk).update(member_id=other.pk)
    assert PointsLot.objects.get(pk=lot.pk).member_id == owner.pk


@pytest.mark.django_db(transaction=True)
def test_a_lot_needs_an_entry_and_the_key_replaces_the_two_single_ones(member, program):
    with pytest.raises(IntegrityError, match="lot_entry_member"), transaction.atomic():
        PointsLot.objects.create(
            member=member, entry_id=10**9, points=5, remaining=5, earned_at=timezone.now(), expires_at=None
        )
    keys = _foreign_keys("rewards_pointslot")
    assert keys == {("entry_id", "member_id"): ("rewards_ledgerentry", "id")} or keys == {
        ("entry_id", "member_id"): ("rewards_ledgerentry", "id,member_id")
    }, keys
    # The lots' member_id index went with its foreign key; the open lots' index remains.
    indexed = {tuple(c["columns"]) for c in _constraints("rewards_pointslot").values() if c["index"]}
    assert ("member_id",) not in indexed
    assert ("member_id", "expires_at", "earned_at") in indexed


@pytest.mark.django_db(transaction=True)
def test_single_post_batch_and_merge_write_lots_of_their_entrys_member(make_member, staff_user, program):
    survivor, duplicate = make_member(), make_member()
    now = timezone.now()
    purchase_post(member=duplicate, source="pos", external_id="S-1", amount=Decimal("80"), purchased_at=now)
    purchases_post_batch(
        [
            PurchaseRow(
                member_id=m.pk, source="pos", external_id=f"B-{m.pk}-{n}", amount=Decimal("40"), purchased_at=now
            )
            for m in (survivor, duplicate)
            for n in range(3)
        ],
        now=now,
        workers=2,
    )
    members_merge(survivor=survivor, duplicate=duplicate, actor=staff_user)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM rewards_pointslot l JOIN rewards_ledgerentry e ON e.id = l.entry_id "
            "WHERE l.member_id <> e.member_id"
        )
        assert cursor.fetchone()[0] == 0
    assert PointsLot.objects.filter(member=survivor, remaining__gt=0).exists()
    assert ledger_mismatches() == []


def _figures():
    return {
        "lots": list(
            PointsLot.objects.order_by("pk").values_list("pk", "member_id", "entry_id", "points", "remaining")
        ),
        "ledger": list(
            LedgerEntry.objects.values("member_id", "bucket").annotate(s=Sum("points")).order_by("member_id", "bucket")
        ),
    }


@pytest.mark.django_db(transaction=True)
def test_the_migration_both_ways_on_a_demo_database_keeps_every_lot(staff_user):
    call_command("demo_seed", members=40, purchases=300, months=3, verbosity=0)
    active = Member.objects.filter(status=Member.Status.ACTIVE).order_by("pk")
    members_merge(survivor=active[0], duplicate=active[1], actor=staff_user)
    before = _figures()
    assert before["lots"]
    try:
        call_command("migrate", *BEFORE, verbosity=0)
        # As before 0017: one foreign key to each table and the member's index.
        keys = _foreign_keys("rewards_pointslot")
        assert keys == {("member_id",): ("members_member", "id"), ("entry_id",): ("rewards_ledgerentry", "id")}
        assert not any(c["columns"] == ["id", "member_id"] for c in _constraints("rewards_ledgerentry").values())
        assert _figures() == before
        call_command("migrate", *AFTER, verbosity=0)
        assert ("entry_id", "member_id") in _foreign_keys("rewards_pointslot")
    finally:
        call_command("migrate", verbosity=0)  # whatever failed, the next test finds the schema it expects
    assert _figures() == before
    assert ledger_mismatches() == []
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE rewards_ledgerentry SET points = points + 1")
