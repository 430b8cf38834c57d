"""A member's balance and tier are read in a constant number of queries, however long their history."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rewards.batch import PurchaseRow, purchases_post_batch
from rewards.selectors import member_account, member_standing
from rewards.services import points_redeem

STANDING_MAX_QUERIES = 4  # account with tier, tiers, programme settings, progress towards the next tier


@pytest.fixture
def returns_window(program):
    program.pending_days = 14
    program.save()
    return program


def give_history(member, count):
    """`count` small purchases over the last 60 days (recent ones still pending) and a redemption."""
    now = timezone.now()
    rows = [
        PurchaseRow(
            member_id=member.pk,
            source="pos",
            external_id=f"{member.pk}-{n}",
            amount=Decimal("1.50"),
            purchased_at=now - timedelta(days=60 * (1 - n / count)),
        )
        for n in range(count)
    ]
    purchases_post_batch(rows, now=now)
    points_redeem(member=member, points=1, reason="Nagroda", idempotency_key=f"redeem-{member.pk}")


def test_member_standing_takes_the_same_queries_for_3_and_300_ledger_entries(
    make_member, returns_window, tiers, django_assert_max_num_queries
):
    short, long = make_member(), make_member()
    give_history(short, 2)
    give_history(long, 299)
    assert short.ledger_entries.count() == 3 and long.ledger_entries.count() == 300

    with CaptureQueriesContext(connection) as few:
        short_standing = member_standing(member=short)
    with CaptureQueriesContext(connection) as many:
        long_standing = member_standing(member=long)

    assert len(few) == len(many)
    with django_assert_max_num_queries(STANDING_MAX_QUERIES):
        member_standing(member=long)
    # Both are still below silver, so both reads took the same path: progress towards the next tier.
    assert short_standing.next_tier.code == long_standing.next_tier.code == "silver"
    assert long_standing.balance > 0 and long_standing.pending > 0
    assert long_standing.progress_value == Decimal("1.50") * 299


def test_member_account_is_one_query_however_long_the_history(make_member, returns_window, tiers):
    short, long = make_member(), make_member()
    give_history(short, 2)
    give_history(long, 299)

    with CaptureQueriesContext(connection) as few:
        assert member_account(member=short).tier.code == "bronze"
    with CaptureQueriesContext(connection) as many:
        assert member_account(member=long).tier.code == "bronze"

    assert len(few) == len(many) == 1
