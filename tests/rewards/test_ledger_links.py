"""Entries that release, reverse or transfer a credit point at it by a foreign key (`related_entry`), and the
migration that added the key links the entries written before it, the ledger left as it was."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Sum
from django.utils import timezone

from loyalty_site.demo import steps as demo_steps
from members.models import Member
from rewards.models import LedgerEntry, PointsAccount
from rewards.selectors import ledger_mismatches
from rewards.services import (
    members_merge,
    points_earn,
    points_release_pending,
    points_reverse,
    purchase_post,
    refund_post,
)

BEFORE = ("rewards", "0010_ledgercheck")
AFTER = ("rewards", "0011_ledger_related_entry")


@pytest.fixture
def returns_window(program):
    program.pending_days = 14
    program.save()
    return program


def post_pending(member, external_id, amount="100", at=None):
    at = at or timezone.now()
    return purchase_post(member=member, source="pos", external_id=external_id, amount=Decimal(amount), purchased_at=at)


def test_a_release_points_both_of_its_entries_at_the_credit(member, returns_window):
    now = timezone.now()
    credit = post_pending(member, "P-1", at=now).entry

    assert points_release_pending(now=now + timedelta(days=15)) == 1

    out, into = (LedgerEntry.objects.get(idempotency_key=f"release:{credit.pk}:{side}") for side in ("out", "in"))
    assert out.related_entry == credit and into.related_entry == credit
    assert out.reference == into.reference == f"pending:{credit.pk}"  # still there, for people to read
    assert ledger_mismatches() == []


def test_release_finds_due_credits_by_the_link_not_the_reference(make_member, returns_window):
    now = timezone.now()
    first, second = make_member(), make_member()
    released = post_pending(first, "P-1", at=now).entry
    waiting = post_pending(second, "P-2", at=now).entry
    assert points_release_pending(now=now + timedelta(days=15), batch_size=1) == 2

    # A third credit, due too: released once, by its own link, while the two released ones are passed over.
    third = post_pending(first, "P-3", at=now).entry
    assert points_release_pending(now=now + timedelta(days=15)) == 1
    assert points_release_pending(now=now + timedelta(days=15)) == 0

    for credit in (released, waiting, third):
        releases = LedgerEntry.objects.filter(related_entry=credit, kind=LedgerEntry.Kind.RELEASE)
        assert releases.count() == 2
    assert PointsAccount.objects.get(member=first).pending == 0
    assert ledger_mismatches() == []


def test_a_reversal_points_at_the_entry_it_reverses(member, program):
    credit = points_earn(member=member, points=300, reason="welcome", idempotency_key="k1")

    reversal = points_reverse(entry=credit, reason="mistake", points=100)

    assert reversal.related_entry == credit
    assert reversal.reference == f"entry:{credit.pk}"
    assert ledger_mismatches() == []


def test_refunds_in_and_after_the_return_window_point_at_the_earn_entry(member, returns_window):
    now = timezone.now()
    posted = post_pending(member, "P-1", at=now)
    credit = posted.entry

    pending_refund = refund_post(purchase=posted.purchase, external_id="RF-1", amount=Decimal("40"))[1]
    assert pending_refund.bucket == LedgerEntry.Bucket.PENDING
    assert pending_refund.related_entry == credit

    points_release_pending(now=now + timedelta(days=15))
    release_in = LedgerEntry.objects.get(related_entry=credit, kind="release", bucket="available")
    assert release_in.points == 60  # what the pending reversal left of the credit

    available_refund = refund_post(purchase=posted.purchase, external_id="RF-2", amount=Decimal("10"))[1]
    assert available_refund.bucket == LedgerEntry.Bucket.AVAILABLE
    assert available_refund.related_entry == credit
    assert available_refund.reference == available_refund.idempotency_key  # refund:<pk>, for people to read
    assert release_in.lot.remaining == 50  # taken from the lot the release opened
    assert ledger_mismatches() == []


def test_a_merge_transfers_pending_points_pointing_at_the_credit(make_member, staff_user, returns_window):
    now = timezone.now()
    survivor, duplicate = make_member(), make_member()
    credit = post_pending(duplicate, "P-1", at=now).entry

    members_merge(survivor=survivor, duplicate=duplicate, actor=staff_user)

    out = LedgerEntry.objects.get(member=duplicate, kind="transfer", bucket="pending")
    assert out.related_entry == credit and out.points == -100
    # The survivor's pending credit is a credit of its own, released by its own link.
    moved = LedgerEntry.objects.get(member=survivor, kind="transfer", bucket="pending")
    assert points_release_pending(now=now + timedelta(days=15)) == 1
    assert LedgerEntry.objects.filter(related_entry=moved, kind="release").count() == 2
    assert not LedgerEntry.objects.filter(related_entry=credit, kind="release").exists()
    assert ledger_mismatches() == []


# --- The migration ---------------------------------------------------------------------------------


def _migrate(target):
    call_command("migrate", *target, verbosity=0)


def _ledger_figures():
    return {
        "entries": LedgerEntry.objects.count(),
        "by_kind": dict(LedgerEntry.objects.values_list("kind").annotate(n=Sum("points")).order_by("kind")),
        "per_member": list(
            LedgerEntry.objects.values("member_id", "bucket").annotate(s=Sum("points")).order_by("member_id", "bucket")
        ),
    }


@pytest.mark.django_db(transaction=True)
def test_the_migration_links_a_demo_ledger_and_leaves_it_intact(staff_user):
    # Only the ledger 0011 knew: the catalog step's redemptions live in tables of later migrations.
    with demo_steps.skipped("rewards-catalog"):
        call_command("demo_seed", members=60, purchases=600, months=3, verbosity=0)
    # A merge of a member with pending points, which the demo does not make.
    active = Member.objects.filter(status=Member.Status.ACTIVE).order_by("pk")
    duplicate = active.filter(points_account__pending__gt=0).first()
    survivor = active.exclude(pk=duplicate.pk).first()
    members_merge(survivor=survivor, duplicate=duplicate, actor=staff_user)
    # The demo's history ends today, its recent purchases still pending: release them, as two weeks on.
    assert points_release_pending(now=timezone.now() + timedelta(days=15)) > 0

    linked = dict(LedgerEntry.objects.filter(related_entry__isnull=False).values_list("pk", "related_entry_id"))
    kinds = set(LedgerEntry.objects.filter(pk__in=linked).values_list("kind", flat=True))
    assert kinds == {"release", "reverse", "transfer"}  # the demo made all three, so all three are checked
    # Refunds of available points name only the refund: the migration links them through the purchase.
    assert LedgerEntry.objects.filter(pk__in=linked, reference__startswith="refund:").exists()
    before = _ledger_figures()

    executor = MigrationExecutor(connection)
    assert AFTER in executor.loader.applied_migrations
    try:
        _migrate(BEFORE)
        columns = [
            c.name for c in connection.introspection.get_table_description(connection.cursor(), "rewards_ledgerentry")
        ]
        assert "related_entry_id" not in columns
        _migrate(AFTER)
    finally:
        _migrate(AFTER)
        call_command("migrate", verbosity=0)  # whatever failed, the next test finds the schema it expects

    assert _ledger_figures() == before
    assert ledger_mismatches() == []
    # The migration links exactly what the services link.
    assert dict(LedgerEntry.objects.filter(related_entry__isnull=False).values_list("pk", "related_entry_id")) == linked
    for pk, reference in LedgerEntry.objects.filter(reference__startswith="pending:").values_list("pk", "reference"):
        assert linked[pk] == int(reference.removeprefix("pending:"))
    # The ledger is append-only again.
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE rewards_ledgerentry SET related_entry_id = NULL")


def test_an_entrys_admin_page_links_the_entry_it_points_at(admin_client, member, program):
    from django.urls import reverse

    credit = points_earn(member=member, points=300, reason="welcome", idempotency_key="k1")
    reversal = points_reverse(entry=credit, reason="mistake", points=100)

    page = admin_client.get(reverse("admin:rewards_ledgerentry_change", args=[reversal.pk]))

    assert page.status_code == 200
    assert reverse("admin:rewards_ledgerentry_change", args=[credit.pk]) in page.content.decode()
