"""The programme's figures as pure functions of DataFrames, exactly as docs/metrics.md defines them.

Inputs (see analytics.frames): `members` (member_id, joined_day, status) and `purchases` (member_id, day,
store, orders, net_cents: one row per member, day and store). Nothing here queries the database, so every
figure is tested on a hand-made dataset.

A rate whose denominator is zero is None ("no data"), never 0 and never an error.
"""

from decimal import Decimal

import numpy as np
import pandas as pd

from analytics.frames import Period


def cents_to_pln(cents) -> Decimal:
    return (Decimal(int(cents)) / 100).quantize(Decimal("0.01"))


def ratio(numerator, denominator) -> float | None:
    if not denominator:
        return None
    return float(numerator) / float(denominator)


def in_days(purchases: pd.DataFrame, first: int, last: int) -> pd.DataFrame:
    return purchases[(purchases["day"] >= first) & (purchases["day"] <= last)]


def buyers(purchases: pd.DataFrame, period: Period) -> pd.Series:
    """Orders per member who bought in the period (at least one purchase not fully refunded)."""
    rows = in_days(purchases, period.start_day, period.end_day)
    orders = rows.groupby("member_id")["orders"].sum()
    return orders[orders > 0]


def member_counts(members: pd.DataFrame, purchases: pd.DataFrame, period: Period, *, active_days: int) -> dict:
    """Members total and new (joined), active (bought within `active_days` up to the period's end)."""
    joined = members[members["joined_day"] <= period.end_day]
    new = joined[joined["joined_day"] >= period.start_day]
    window = Period(period.end.fromordinal(period.end.toordinal() - active_days + 1), period.end)
    active = buyers(purchases, window)
    return {"members_total": len(joined), "members_new": len(new), "members_active": len(active)}


def purchase_figures(purchases: pd.DataFrame, period: Period) -> dict:
    """Buyers, orders, revenue (net of refunds), repeat-purchase rate, frequency, average order value."""
    rows = in_days(purchases, period.start_day, period.end_day)
    orders_per_member = buyers(purchases, period)
    orders = int(orders_per_member.sum())
    revenue_cents = int(rows["net_cents"].sum())
    repeaters = int((orders_per_member >= 2).sum())
    aov = None if orders == 0 else cents_to_pln(round(revenue_cents / orders))
    return {
        "buyers": len(orders_per_member),
        "orders": orders,
        "revenue": cents_to_pln(revenue_cents),
        "repeat_purchase_rate": ratio(repeaters, len(orders_per_member)),
        "purchase_frequency": ratio(orders, len(orders_per_member)),
        "average_order_value": aov,
    }


def retention(purchases: pd.DataFrame, period: Period) -> dict:
    """Of the members who bought in the previous period, the share who bought again in this one; churn is the rest."""
    before = buyers(purchases, period.previous()).index
    now = buyers(purchases, period).index
    kept = ratio(len(before.intersection(now)), len(before))
    return {"retention_rate": kept, "churn_rate": None if kept is None else 1 - kept}


def engagement_rate(members_total: int, buyer_ids, engaged_ids) -> float | None:
    """Members who bought or had another loyalty action (bonus, redemption) in the period, over all members."""
    engaged = np.union1d(np.asarray(buyer_ids, dtype="int64"), np.asarray(engaged_ids, dtype="int64"))
    return ratio(len(engaged), members_total)


def historical_clv(members: pd.DataFrame, purchases: pd.DataFrame, period: Period) -> Decimal | None:
    """Net revenue to the period's end divided by the members who had joined by then."""
    joined = int((members["joined_day"] <= period.end_day).sum())
    if joined == 0:
        return None
    cents = int(purchases.loc[purchases["day"] <= period.end_day, "net_cents"].sum())
    return cents_to_pln(round(cents / joined))


def points_figures(sums: dict, point_value: Decimal) -> dict:
    """Earn vs burn, redemption rate, breakage and the liability (outstanding available points x value)."""
    earned, redeemed, expired = sums["earned"], sums["redeemed"], sums["expired"]
    return {
        "points_earned": earned,
        "points_redeemed": redeemed,
        "points_expired": expired,
        "redemption_rate": ratio(redeemed, earned),
        "breakage": ratio(expired, redeemed + expired),
        "points_outstanding": sums["outstanding"],
        "points_pending": sums["pending"],
        "points_liability": (Decimal(sums["outstanding"]) * point_value).quantize(Decimal("0.01")),
    }


def monthly_trend(purchases: pd.DataFrame, months: list[tuple[str, int, int]]) -> pd.DataFrame:
    """Revenue, orders and buyers per month; `months` is [(label, first day, last day)]."""
    rows = []
    for label, first, last in months:
        part = in_days(purchases, first, last)
        per_member = part.groupby("member_id")["orders"].sum()
        rows.append(
            (label, cents_to_pln(int(part["net_cents"].sum())), int(per_member.sum()), int((per_member > 0).sum()))
        )
    return pd.DataFrame(rows, columns=["month", "revenue", "orders", "buyers"])


def cohorts(members: pd.DataFrame, purchases: pd.DataFrame, months: list[tuple[str, int, int]]) -> dict:
    """Retention by join month: for each cohort (members who joined in a month of `months`), the share who
    bought in each following month (offset 0 = the month they joined), and the cohort's net revenue to date.
    """
    labels = [m[0] for m in months]
    firsts = np.array([m[1] for m in months])
    last_day = months[-1][2] if months else 0

    def month_index(days):
        return np.searchsorted(firsts, days, side="right") - 1

    joined = members[(members["joined_day"] >= (firsts[0] if len(firsts) else 0)) & (members["joined_day"] <= last_day)]
    joined = joined.assign(cohort=month_index(joined["joined_day"].to_numpy()))
    buys = purchases[(purchases["orders"] > 0) & (purchases["day"] <= last_day)]
    buys = buys.merge(joined[["member_id", "cohort"]], on="member_id")
    buys = buys.assign(month=month_index(buys["day"].to_numpy()))
    buys = buys[buys["month"] >= buys["cohort"]]
    sizes = joined.groupby("cohort").size()
    active = buys.groupby(["cohort", "month"])["member_id"].nunique()
    revenue = (
        purchases[purchases["day"] <= last_day]
        .merge(joined[["member_id", "cohort"]], on="member_id")
        .groupby("cohort")["net_cents"]
        .sum()
    )
    rows = []
    for index, label in enumerate(labels):
        size = int(sizes.get(index, 0))
        cells = []
        for month in range(index, len(labels)):
            count = int(active.get((index, month), 0))
            cells.append(ratio(count, size))
        cents = int(revenue.get(index, 0))
        rows.append(
            {
                "cohort": label,
                "members": size,
                "retention": cells,
                "revenue": cents_to_pln(cents),
                "revenue_per_member": None if size == 0 else cents_to_pln(round(cents / size)),
            }
        )
    return {"months": labels, "rows": rows}


def change(current, previous) -> dict:
    """The difference to the previous period and, for a non-zero previous value, the relative change."""
    if current is None or previous is None:
        return {"delta": None, "relative": None}
    delta = current - previous
    relative = None if not previous else float(delta) / float(previous)
    return {"delta": delta, "relative": relative}
