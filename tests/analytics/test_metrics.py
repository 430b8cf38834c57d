"""Every dashboard figure on a small hand-made dataset, the expected values written out (docs/metrics.md)."""

from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from analytics import metrics
from analytics.frames import Period, day_number
from analytics.services import month_ranges

MARCH = Period(date(2026, 3, 1), date(2026, 3, 31))


def d(text: str) -> int:
    return day_number(date.fromisoformat(text))


@pytest.fixture
def members():
    return pd.DataFrame(
        {
            "member_id": [1, 2, 3, 4, 5],
            "joined_day": [d("2025-12-01"), d("2026-02-10"), d("2026-03-05"), d("2026-03-20"), d("2026-04-02")],
            "status": ["active"] * 5,
        }
    )


@pytest.fixture
def purchases():
    rows = [
        (1, "2026-02-05", "WAW", 1, 10000),
        (1, "2026-03-03", "WAW", 1, 5000),
        (1, "2026-03-10", "KRK", 1, 7000),
        (2, "2026-02-15", "WAW", 1, 20000),
        (2, "2026-03-12", "WAW", 0, 0),  # a purchase refunded in full: no order, no revenue
        (3, "2026-03-06", "KRK", 2, 9000),  # two purchases on one day
    ]
    return pd.DataFrame(
        {
            "member_id": [r[0] for r in rows],
            "day": [d(r[1]) for r in rows],
            "store": [r[2] for r in rows],
            "orders": [r[3] for r in rows],
            "net_cents": [r[4] for r in rows],
        }
    )


def test_previous_period_has_the_same_length_just_before():
    assert MARCH.previous() == Period(date(2026, 1, 29), date(2026, 2, 28))


def test_member_counts(members, purchases):
    # Member 5 joined after March; 3 and 4 joined in it; 1, 2, 3 bought within 90 days of March 31.
    assert metrics.member_counts(members, purchases, MARCH, active_days=90) == {
        "members_total": 4,
        "members_new": 2,
        "members_active": 3,
    }
    # With a 30-day window member 2 (last purchase Feb 15, the March one refunded) is not active.
    assert metrics.member_counts(members, purchases, MARCH, active_days=30)["members_active"] == 2


def test_purchase_figures(purchases):
    assert metrics.purchase_figures(purchases, MARCH) == {
        "buyers": 2,
        "orders": 4,
        "revenue": Decimal("210.00"),
        "repeat_purchase_rate": 1.0,
        "purchase_frequency": 2.0,
        "average_order_value": Decimal("52.50"),
    }
    assert metrics.purchase_figures(purchases, MARCH.previous()) == {
        "buyers": 2,
        "orders": 2,
        "revenue": Decimal("300.00"),
        "repeat_purchase_rate": 0.0,
        "purchase_frequency": 1.0,
        "average_order_value": Decimal("150.00"),
    }


def test_purchase_figures_of_one_store(purchases):
    krakow = purchases[purchases["store"] == "KRK"]
    figures = metrics.purchase_figures(krakow, MARCH)
    assert figures["orders"] == 3
    assert figures["revenue"] == Decimal("160.00")
    assert figures["average_order_value"] == Decimal("53.33")  # 160.00 / 3, rounded to the grosz
    assert figures["repeat_purchase_rate"] == 0.5


def test_retention_and_churn(purchases):
    # Bought in February: 1 and 2; of them only 1 bought again in March.
    assert metrics.retention(purchases, MARCH) == {"retention_rate": 0.5, "churn_rate": 0.5}
    # Nobody bought in the period before February's: no rate rather than 0.
    assert metrics.retention(purchases, MARCH.previous()) == {"retention_rate": None, "churn_rate": None}


def test_engagement_rate_counts_buyers_and_other_actions_once():
    assert metrics.engagement_rate(4, [1, 3], [2, 3]) == 0.75
    assert metrics.engagement_rate(0, [], []) is None


def test_historical_clv(members, purchases):
    # 510.00 net by March 31 over the 4 members who had joined by then.
    assert metrics.historical_clv(members, purchases, MARCH) == Decimal("127.50")


def test_points_figures():
    sums = {"earned": 1000, "redeemed": 300, "expired": 100, "outstanding": 5000, "pending": 200}
    assert metrics.points_figures(sums, Decimal("0.01")) == {
        "points_earned": 1000,
        "points_redeemed": 300,
        "points_expired": 100,
        "redemption_rate": 0.3,
        "breakage": 0.25,
        "points_outstanding": 5000,
        "points_pending": 200,
        "points_liability": Decimal("50.00"),
    }
    empty = metrics.points_figures(dict.fromkeys(sums, 0), Decimal("0.01"))
    assert empty["redemption_rate"] is None and empty["breakage"] is None and empty["points_liability"] == 0


def test_cohorts(members, purchases):
    months = month_ranges(date(2026, 3, 31), 3)
    assert [m[0] for m in months] == ["2026-01", "2026-02", "2026-03"]
    result = metrics.cohorts(members, purchases, months)
    assert result["months"] == ["2026-01", "2026-02", "2026-03"]
    january, february, march = result["rows"]
    assert january == {
        "cohort": "2026-01",
        "members": 0,
        "retention": [None, None, None],
        "revenue": Decimal("0.00"),
        "revenue_per_member": None,
    }
    # Member 2 bought in February; the March purchase was refunded in full.
    assert february["members"] == 1 and february["retention"] == [1.0, 0.0]
    assert february["revenue"] == Decimal("200.00")
    # Members 3 and 4 joined in March, 3 bought.
    assert march["members"] == 2 and march["retention"] == [0.5]
    assert march["revenue"] == Decimal("90.00") and march["revenue_per_member"] == Decimal("45.00")


def test_monthly_trend(purchases):
    trend = metrics.monthly_trend(purchases, month_ranges(date(2026, 3, 31), 2))
    assert trend.to_dict("records") == [
        {"month": "2026-02", "revenue": Decimal("300.00"), "orders": 2, "buyers": 2},
        {"month": "2026-03", "revenue": Decimal("210.00"), "orders": 4, "buyers": 2},
    ]


def test_empty_data_and_empty_ranges_give_documented_values(members):
    empty = pd.DataFrame({"member_id": [], "day": [], "store": [], "orders": [], "net_cents": []}).astype(
        {"member_id": "int64", "day": "int64", "orders": "int64", "net_cents": "int64"}
    )
    assert metrics.purchase_figures(empty, MARCH) == {
        "buyers": 0,
        "orders": 0,
        "revenue": Decimal("0.00"),
        "repeat_purchase_rate": None,
        "purchase_frequency": None,
        "average_order_value": None,
    }
    assert metrics.retention(empty, MARCH)["retention_rate"] is None
    no_members = members.iloc[0:0]
    assert metrics.historical_clv(no_members, empty, MARCH) is None
    assert metrics.member_counts(no_members, empty, MARCH, active_days=90) == {
        "members_total": 0,
        "members_new": 0,
        "members_active": 0,
    }
    assert metrics.cohorts(no_members, empty, month_ranges(MARCH.end, 2))["rows"][0]["members"] == 0


def test_change_against_the_previous_period():
    assert metrics.change(Decimal("210.00"), Decimal("300.00")) == {"delta": Decimal("-90.00"), "relative": -0.3}
    assert metrics.change(5, 0) == {"delta": 5, "relative": None}
    assert metrics.change(None, 3) == {"delta": None, "relative": None}
    assert np.isclose(metrics.change(0.5, 0.25)["relative"], 1.0)
