"""RFM: recency, frequency and monetary scores 1-5 per member, named segments, and the CLV inputs.

Scores are quintiles by rank: the members are ranked (better values get higher ranks; tied values share
the average of their ranks) and score = ceil(5 x rank / n). Tied members therefore always get the same
score, and ten members with distinct values get 1,1,2,2,3,3,4,4,5,5. Recency is ranked the other way round
(fewer days since the last purchase is better). Members without a purchase get no score (docs/metrics.md).
"""

import numpy as np
import pandas as pd


def quintile_scores(values: pd.Series, *, higher_is_better: bool = True) -> pd.Series:
    if values.empty:
        return pd.Series(dtype="int64", index=values.index)
    ranks = values.rank(method="average", ascending=higher_is_better)
    return np.ceil(5 * ranks / len(values)).clip(1, 5).astype("int64")


def segment_of(r: int, f: int, m: int) -> str:
    """The named segment of one member's scores; FM is the mean of F and M rounded half up."""
    fm = (f + m + 1) // 2
    if r >= 4 and fm >= 4:
        return "champions"
    if r >= 3 and fm >= 3:
        return "loyal"
    if r >= 4 and fm <= 1:
        return "new"
    if r >= 3:
        return "promising"
    if r == 1 and fm >= 4:
        return "cant_lose"
    if fm >= 3:
        return "at_risk"
    if r == 2:
        return "hibernating"
    return "lost"


_SEGMENT_TABLE = np.array(
    [[[segment_of(r, f, m) for m in range(1, 6)] for f in range(1, 6)] for r in range(1, 6)], dtype=object
)


def member_summary(purchases: pd.DataFrame, as_of_day: int) -> pd.DataFrame:
    """Per member who bought by `as_of_day`: orders, net spend, first and last purchase day, purchase days,
    and the BG/NBD/Gamma-Gamma inputs in weeks (frequency = purchase days after the first, recency, age T,
    mean net spend of the repeat purchase days). Purchases fully refunded do not count.
    """
    keep = (purchases["day"].to_numpy() <= as_of_day) & (purchases["orders"].to_numpy() > 0)
    member = purchases["member_id"].to_numpy("int64")[keep]
    if len(member) == 0:
        columns = [
            "orders",
            "net_cents",
            "first_day",
            "last_day",
            "purchase_days",
            "recency_days",
            "frequency",
            "recency_weeks",
            "age_weeks",
            "repeat_mean_pln",
        ]
        return pd.DataFrame(columns=columns, index=pd.Index([], name="member_id"))
    day = purchases["day"].to_numpy("int64")[keep]
    orders = purchases["orders"].to_numpy("int64")[keep]
    cents = purchases["net_cents"].to_numpy("int64")[keep]
    # Sort once by (member, day) as one int64 key; then purchase days and members are runs of equal keys,
    # summed with reduceat (a tenth of the time of two pandas groupbys on a million rows).
    first = int(day.min())
    key = member * (int(day.max()) - first + 1) + (day - first)
    order = np.argsort(key)  # equal keys are one member and day: their order does not matter
    key = key[order]
    day_starts = np.flatnonzero(np.concatenate(([True], key[1:] != key[:-1])))
    day_member = member[order][day_starts]
    day_day = day[order][day_starts]
    day_orders = np.add.reduceat(orders[order], day_starts)
    day_cents = np.add.reduceat(cents[order], day_starts)
    starts = np.flatnonzero(np.concatenate(([True], day_member[1:] != day_member[:-1])))
    ends = np.concatenate((starts[1:], [len(day_member)])) - 1
    summary = pd.DataFrame(
        {
            "orders": np.add.reduceat(day_orders, starts),
            "net_cents": np.add.reduceat(day_cents, starts),
            "first_day": day_day[starts],
            "last_day": day_day[ends],
            "purchase_days": ends - starts + 1,
        },
        index=pd.Index(day_member[starts], name="member_id"),
    )
    first_spend = day_cents[starts]
    summary["recency_days"] = as_of_day - summary["last_day"]
    summary["frequency"] = summary["purchase_days"] - 1
    summary["recency_weeks"] = (summary["last_day"] - summary["first_day"]) / 7
    summary["age_weeks"] = (as_of_day - summary["first_day"]) / 7
    repeat_cents = summary["net_cents"] - first_spend
    summary["repeat_mean_pln"] = np.where(
        summary["frequency"] > 0, repeat_cents / 100 / summary["frequency"].where(summary["frequency"] > 0, 1), 0.0
    )
    return summary


def rfm_scores(summary: pd.DataFrame) -> pd.DataFrame:
    """R, F, M scores and segment for each member of `member_summary`."""
    scored = pd.DataFrame(index=summary.index)
    scored["r_score"] = quintile_scores(summary["recency_days"].astype(float), higher_is_better=False)
    scored["f_score"] = quintile_scores(summary["orders"].astype(float))
    scored["m_score"] = quintile_scores(summary["net_cents"].astype(float))
    if scored.empty:
        scored["segment"] = pd.Series(dtype=object)
        return scored
    scored["segment"] = _SEGMENT_TABLE[
        scored["r_score"].to_numpy() - 1, scored["f_score"].to_numpy() - 1, scored["m_score"].to_numpy() - 1
    ]
    return scored


def segment_movement(previous: pd.Series, current: pd.Series) -> pd.DataFrame:
    """Members moving from segment to segment: rows are last month's segment, columns this month's."""
    both = pd.concat([previous.rename("before"), current.rename("after")], axis=1).dropna()
    return pd.crosstab(both["before"], both["after"])


def horizon_weeks(months: int) -> float:
    return months * 365.25 / 12 / 7
