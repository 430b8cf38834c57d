"""The programme configuration is cached per process and reloaded whenever settings, rules or tiers change,
however they change (ORM save, bulk update, raw SQL, another connection): rewards.config."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from rewards.config import programme_config
from rewards.models import EarningRule, ProgramSettings, Tier
from rewards.services import purchase_post
from tests.factories import EarningRuleFactory

pytestmark = pytest.mark.django_db

# Member lookup is the caller's. Config version, account lock, tier progress, the purchase with its lines (one
# statement, members.sql) and the entry with its balance and lot (one statement, rewards.sql.ledger.entry_post).
# rewards.engagement adds nothing for a member nobody referred (the event says so; its challenges and badges come
# from a copy cached under the same config version) and one lookup of the pending referral for a referred member.
# Nothing else may creep in: this is the till's hot path.
PURCHASE_POST_QUERIES = 5


def post(member, external_id, amount="100.00"):
    return purchase_post(member=member, source="till", external_id=external_id, amount=Decimal(amount))


def test_unchanged_configuration_costs_one_query(program, tiers):
    programme_config()
    with CaptureQueriesContext(connection) as queries:
        config = programme_config()
    assert len(queries) == 1
    assert [tier.code for tier in config.tiers] == ["bronze", "silver", "gold"]


def test_purchase_post_runs_a_fixed_small_number_of_queries(member, program, tiers):
    post(member, "warm-up")
    with CaptureQueriesContext(connection) as queries:
        posted = post(member, "P-1")
    assert posted.created and posted.entry.points == 100
    # The test runs inside a transaction, so purchase_post's own atomic block shows up as a savepoint.
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert len(statements) == PURCHASE_POST_QUERIES, statements


def test_a_referred_member_s_post_adds_one_lookup_of_the_referral(member, program, tiers, make_member):
    member.referred_by = make_member(email="referrer@example.pl")
    member.save(update_fields=["referred_by"])
    post(member, "warm-up")
    with CaptureQueriesContext(connection) as queries:
        post(member, "P-1")
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert len(statements) == PURCHASE_POST_QUERIES + 1, statements
    assert any("engagement_referral" in sql for sql in statements)


def test_a_post_that_moves_the_tier_reads_the_version_once(member, program, tiers):
    """TierChanged's receivers (rewards.engagement's tier badges) reuse the version the post read, as
    PurchasePosted's do: the tier's move adds its two writes and nothing else."""
    post(member, "warm-up", amount="10.00")
    with CaptureQueriesContext(connection) as queries:
        post(member, "P-1", amount="1500.00")
    member.points_account.refresh_from_db()
    assert member.points_account.tier.code == "silver"
    statements = [q["sql"] for q in queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))]
    assert sum("config_version" in sql for sql in statements) == 1, statements
    assert len(statements) == PURCHASE_POST_QUERIES + 2, statements


def test_a_bulk_update_of_a_rule_is_seen_by_the_next_post(member, program, tiers):
    rule = EarningRuleFactory(name="x2", kind=EarningRule.Kind.MULTIPLIER, multiplier=Decimal("2"))
    assert post(member, "P-1").entry.points == 200
    EarningRule.objects.filter(pk=rule.pk).update(multiplier=Decimal("3"))  # no signals, no save()
    assert post(member, "P-2").entry.points == 300
    EarningRule.objects.filter(pk=rule.pk).delete()
    assert post(member, "P-3").entry.points == 100


def test_settings_changed_by_raw_sql_are_seen(member, program, tiers):
    assert post(member, "P-1").entry.points == 100
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rewards_programsettings SET base_points_per_pln = 2 WHERE id = 1")
    assert post(member, "P-2").entry.points == 200


def test_tiers_created_in_bulk_are_seen(member, program):
    programme_config()
    Tier.objects.bulk_create([Tier(code="t0", name="Start", rank=0, earn_multiplier=Decimal("2"))])
    assert post(member, "P-1").entry.points == 100  # earned at the tier held before the purchase: none
    member.points_account.refresh_from_db()
    assert member.points_account.tier.code == "t0"
    assert post(member, "P-2").entry.points == 200


def test_a_rolled_back_change_never_leaves_a_stale_copy(member, program, tiers):
    """Counters go back on rollback; the random version does not, so no later state can match it."""
    from django.db import transaction

    before = programme_config().version
    with pytest.raises(RuntimeError), transaction.atomic():
        EarningRuleFactory(name="x5", kind=EarningRule.Kind.MULTIPLIER, multiplier=Decimal("5"))
        assert programme_config().ruleset.rules  # cached inside the doomed transaction
        raise RuntimeError
    assert programme_config().version == before
    assert programme_config().ruleset.rules == ()
    assert post(member, "P-1").entry.points == 100


@pytest.mark.django_db(transaction=True)
def test_a_change_committed_on_another_connection_is_seen(member, program, tiers):
    assert post(member, "P-1").entry.points == 100

    def change_elsewhere():
        other = connections.create_connection("default")
        try:
            with other.cursor() as cursor:
                cursor.execute("UPDATE rewards_programsettings SET base_points_per_pln = 3 WHERE id = 1")
            other.commit() if not other.get_autocommit() else None
        finally:
            other.close()

    thread = threading.Thread(target=change_elsewhere)
    thread.start()
    thread.join()
    assert ProgramSettings.objects.get(pk=1).base_points_per_pln == 3
    assert post(member, "P-2").entry.points == 300


def test_saving_settings_read_before_another_change_still_replaces_the_version(member, program, tiers):
    """save() writes every column, config_version included: an instance read earlier writes back a version
    a process may have cached. The trigger replaces the version on every update, whatever was written."""
    settings_row = ProgramSettings.objects.get(pk=1)
    assert post(member, "P-1").entry.points == 100  # cached at the version settings_row holds
    ProgramSettings.objects.filter(pk=1).update(pending_days=0)  # a new version
    settings_row.base_points_per_pln = Decimal("2")
    settings_row.save()  # would write the cached version back
    assert post(member, "P-2").entry.points == 200


def test_a_settings_row_inserted_with_a_cached_version_still_gets_a_new_one(member, program, tiers):
    """A restore or fixture load writes config_version too; the insert trigger replaces it."""
    cached = programme_config().version
    ProgramSettings.objects.all().delete()
    ProgramSettings.objects.create(pk=1, base_points_per_pln=Decimal("2"), pending_days=0, config_version=cached)
    assert post(member, "P-1").entry.points == 200
