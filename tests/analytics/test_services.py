"""The dashboard and the member scores computed from a history posted through the services, and stored."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from analytics.frames import Period, purchase_days
from analytics.models import AnalyticsSettings, DashboardSnapshot, MemberScore
from analytics.services import (
    analytics_refresh,
    dashboard_compute,
    default_period,
    member_scores_store,
    month_ranges,
)


def figures(data):
    return {row["code"]: row for row in data["figures"]}


@pytest.mark.django_db
def test_dashboard_figures_of_the_history(history):
    AnalyticsSettings.objects.create(pk=1, point_value_pln=Decimal("0.02"), active_days=30)
    period = default_period(history["today"])
    data = dashboard_compute(period=period)
    f = figures(data)
    assert f["members_total"]["value"] == 4
    assert f["members_new"]["value"] == 2 and f["members_new"]["previous"] == 0
    # Bought in the last 30 days (refunded in full does not count): a and c.
    assert f["members_active"]["value"] == 2
    assert f["orders"]["value"] == 3 and f["buyers"]["value"] == 2
    assert f["revenue"]["value"] == "165.00"  # 50 + 70 + (90 - 45)
    assert f["revenue"]["previous"] == "300.00"
    assert f["revenue"]["delta"] == "-135.00" and f["revenue"]["relative"] == pytest.approx(-0.45)
    assert f["average_order_value"]["value"] == "55.00"
    assert f["repeat_purchase_rate"]["value"] == 0.5
    assert f["retention_rate"]["value"] == 0.5 and f["churn_rate"]["value"] == 0.5  # a came back, b did not
    # The redemption happened today, after the period; a period ending today holds it.
    assert f["points_redeemed"]["value"] == 0
    today = figures(dashboard_compute(period=Period(history["today"] - timedelta(days=29), history["today"])))
    assert today["points_redeemed"]["value"] == 50
    # Points earned in the period: 50 + 70 + 80 + 90 (refunds reverse later, they do not un-earn).
    assert today["points_earned"]["value"] == 290
    assert today["redemption_rate"]["value"] == pytest.approx(50 / 290)
    outstanding = f["points_outstanding"]["value"]
    assert f["points_liability"]["value"] == str((Decimal(outstanding) * Decimal("0.02")).quantize(Decimal("0.01")))
    assert data["segments"] and sum(data["segments"].values()) == 3  # d never bought: no segment
    assert sum(row["members"] for row in data["tiers"]) == 3  # d never earned: no points account


@pytest.mark.django_db
def test_store_filter_restricts_the_purchase_figures(history):
    period = default_period(history["today"])
    data = dashboard_compute(period=period, store="KRK02")
    f = figures(data)
    assert f["orders"]["value"] == 1  # a's 50.00; b's KRK purchase was refunded in full
    assert f["revenue"]["value"] == "50.00"
    assert f["members_total"]["value"] == 4  # membership is programme-wide


@pytest.mark.django_db
def test_an_empty_programme_and_an_empty_range_compute_without_errors(program):
    data = dashboard_compute(period=default_period())
    f = figures(data)
    assert f["members_total"]["value"] == 0 and f["revenue"]["value"] == "0.00"
    assert f["average_order_value"]["value"] is None and f["predicted_clv"]["value"] is None
    assert data["segments"] == {} and data["movement"] is None
    assert member_scores_store(as_of=default_period().end) == 0


@pytest.mark.django_db
def test_member_scores_are_stored_per_month_and_replaced_on_recompute(history):
    end = default_period(history["today"]).end
    assert member_scores_store(as_of=end) == 3
    assert member_scores_store(as_of=end) == 3
    scores = {s.member_id: s for s in MemberScore.objects.filter(month=end.replace(day=1))}
    assert set(scores) == {history["a"].pk, history["b"].pk, history["c"].pk}
    a, b, c = scores[history["a"].pk], scores[history["b"].pk], scores[history["c"].pk]
    assert (a.orders, a.monetary) == (3, Decimal("220.00"))
    assert (b.orders, b.monetary) == (1, Decimal("200.00"))  # the refunded purchase is no order
    assert (c.orders, c.monetary) == (1, Decimal("45.00"))
    assert a.r_score > b.r_score
    assert all(1 <= s.r_score <= 5 and s.segment for s in scores.values())


@pytest.mark.django_db
def test_refresh_stores_a_snapshot_with_when_and_movement_between_months(history):
    end = default_period(history["today"]).end
    previous_month_end = end.replace(day=1) - timedelta(days=1)
    member_scores_store(as_of=previous_month_end)
    snapshot = analytics_refresh()
    assert DashboardSnapshot.objects.count() == 1 and snapshot.computed_at is not None
    assert snapshot.data["movement"] is None or snapshot.data["movement"]["cells"]
    analytics_refresh()
    assert DashboardSnapshot.objects.count() == 1


@pytest.mark.django_db
def test_purchase_days_reads_the_same_in_sql_and_in_python(history):
    from analytics.frames import purchase_days_from_rows
    from members.models import Purchase

    columns = ["member_id", "day", "store", "orders", "net_cents"]
    sql = purchase_days().sort_values(columns).reset_index(drop=True)
    rows = list(Purchase.objects.values_list("member_id", "purchased_at", "store", "amount", "refunded_amount"))
    python = purchase_days_from_rows(rows).sort_values(columns).reset_index(drop=True)
    assert sql.to_dict("records") == python.to_dict("records")
    assert Period(history["today"], history["today"]).days == 1


@pytest.mark.django_db
def test_ledger_figures_in_one_pass_equal_the_separate_reads(history):
    from analytics import frames

    today = history["today"]
    member = history["c"]
    from rewards.services import points_earn

    points_earn(member=member, points=30, reason="bonus", idempotency_key="bonus-test-1", kind="bonus")
    for period in (default_period(today), Period(today - timedelta(days=29), today), Period(today, today)):
        previous = period.previous()
        months = [date.fromisoformat(label + "-01") for label, _, _ in month_ranges(period.end)]
        ledger = frames.LedgerFigures(
            edges=[*months, previous.start, period.start, period.end + timedelta(days=1)],
            stock_at=[previous.end + timedelta(days=1), period.end + timedelta(days=1)],
        )
        assert ledger.sql  # the tests run on PostgreSQL: the one-pass read is the one checked
        for p in (period, previous):
            assert ledger.points(p) == frames.points_sums(p)[0]
        expected = frames.points_by_month(months[0], period.end).set_index("month")
        got = ledger.by_month(months[0], period.end).set_index("month")
        assert (got.loc[expected.index] == expected).all().all()
        assert (got.drop(expected.index) == 0).all().all()  # months without entries: zeros
    assert ledger.points(Period(today, today))["redeemed"] == 50


@pytest.mark.django_db
def test_stored_scores_equal_the_computed_ones_and_a_member_who_left_disappears(history):
    from analytics.services import member_scores_compute
    from members.models import Purchase
    from rewards.services import refund_post

    end = default_period(history["today"]).end
    member_scores_store(as_of=end)
    computed = member_scores_compute(as_of=end)
    for score in MemberScore.objects.filter(month=end.replace(day=1)):
        row = computed.loc[score.member_id]
        assert (score.recency_days, score.orders, score.segment) == (row["recency_days"], row["orders"], row["segment"])
        assert score.monetary == Decimal(int(row["net_cents"])) / 100
        assert (score.r_score, score.f_score, score.m_score) == (row["r_score"], row["f_score"], row["m_score"])
        for field in ("probability_alive", "churn_risk", "predicted_purchases"):
            stored, value = getattr(score, field), row[field]
            assert stored is None if value != value else stored == value  # the same double, or NULL for NaN
        clv = row["predicted_clv"]
        assert score.predicted_clv is None if clv != clv else score.predicted_clv == Decimal(str(round(clv, 2)))
    # c's only purchase is refunded in full: c has no purchase left, so no score this month.
    purchase = Purchase.objects.get(member=history["c"])
    refund_post(purchase=purchase, external_id="R-3", amount=purchase.amount - purchase.refunded_amount)
    assert member_scores_store(as_of=end) == 2
    assert set(MemberScore.objects.filter(month=end.replace(day=1)).values_list("member_id", flat=True)) == {
        history["a"].pk,
        history["b"].pk,
    }
