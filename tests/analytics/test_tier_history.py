"""Tier distribution at the end of each month, rebuilt from rewards' tier changes."""

from datetime import datetime, time, timedelta

import pytest
from django.utils import timezone

from analytics import frames
from analytics.services import dashboard_compute, default_period
from analytics.tables import tier_history_table
from members.models import Member
from rewards.models import PointsAccount, TierChange


def local(day, hour=12):
    return timezone.make_aware(datetime.combine(day, time(hour)))


@pytest.fixture
def ladder(make_member, program, tiers):
    """Five members with accounts; `ends` are three month ends (T-60, T-30, T-1). Expected at those ends:

    m1 joined T-100: none -> bronze T-90, -> silver T-45, -> gold T-10   bronze, silver, gold
    m2 joined T-100: silver, no change recorded                          silver, silver, silver
    m3 joined T-40:  none -> bronze T-5                                  (not joined), none, bronze
    m4 merged into m2, gold                                              never counted
    m5 joined T-100: silver -> bronze T-20                               silver, silver, bronze
    """
    today = timezone.localdate()
    bronze, silver, gold = tiers
    m1, m2, m3, m4, m5 = (make_member() for _ in range(5))
    for member, joined, tier in (
        (m1, 100, gold),
        (m2, 100, silver),
        (m3, 40, bronze),
        (m4, 100, gold),
        (m5, 100, bronze),
    ):
        Member.objects.filter(pk=member.pk).update(joined_at=local(today - timedelta(days=joined)))
        PointsAccount.objects.update_or_create(member=member, defaults={"tier": tier})
    Member.objects.filter(pk=m4.pk).update(status=Member.Status.MERGED, merged_into=m2)
    TierChange.objects.filter(member__in=[m1, m2, m3, m4, m5]).delete()
    for member, days_ago, before, after in (
        (m1, 90, None, bronze),
        (m1, 45, bronze, silver),
        (m1, 10, silver, gold),
        (m3, 5, None, bronze),
        (m5, 20, silver, bronze),
    ):
        TierChange.objects.create(
            member=member, from_tier=before, to_tier=after, changed_at=local(today - timedelta(days=days_ago))
        )
    return {"today": today, "ends": [today - timedelta(days=d) for d in (60, 30, 1)]}


@pytest.mark.django_db
def test_tier_distribution_at_each_end_is_rebuilt_from_the_changes(ladder):
    rows = {row["tier"]: row["members"] for row in frames.tier_history(ladder["ends"])}
    assert rows == {"bronze": [1, 0, 2], "silver": [2, 3, 1], "gold": [0, 0, 1], "": [0, 1, 0]}
    # With every change recorded, the last end (midnight today) is the distribution now.
    now = {row["tier"]: row["members"] for row in frames.tier_distribution()}
    assert {tier: counts[-1] for tier, counts in rows.items() if counts[-1]} == {t: n for t, n in now.items() if n}


@pytest.mark.django_db
def test_the_dashboard_shows_the_history_by_month_and_exports_it(ladder):
    period = default_period(ladder["today"])
    data = dashboard_compute(period=period)
    history = data["tier_history"]
    assert len(history["months"]) == 12 and history["months"][-1] == period.end.strftime("%Y-%m")
    rows = {row["tier"]: row["members"] for row in history["rows"]}
    assert [rows["bronze"][-1], rows["silver"][-1], rows["gold"][-1]] == [2, 1, 1]  # at the period's end
    assert all(len(counts) == 12 for counts in rows.values())
    table = tier_history_table(data)
    assert table.headers[1:] == history["months"] and len(table.rows) == len(history["rows"])


@pytest.mark.django_db
def test_no_accounts_no_rows(program, tiers):
    assert [row["members"] for row in frames.tier_history([timezone.localdate()])] == [[0], [0], [0]]
