"""Figures from apps other branches are building (campaign deliveries, challenges, partner redemptions).

Each figure is a pure function of DataFrames with the columns documented on it, tested here; the loaders
read the models defensively (`apps.get_model`, LookupError -> "not available") because the models' exact
names and fields are not known to this branch. The integrator adjusts the loaders' column mapping and wires
the results into `services.dashboard_compute` (see docs/analytics.md, "Not wired yet").
"""

import numpy as np
import pandas as pd
from django.apps import apps

from analytics.uplift import uplift

NOT_AVAILABLE = None


def model_or_none(app_label: str, model_name: str):
    """The model, or None when its app is not installed or has no such model (yet)."""
    try:
        return apps.get_model(app_label, model_name)
    except LookupError:
        return None


def campaign_results(deliveries: pd.DataFrame, purchases: pd.DataFrame, *, days: int) -> pd.DataFrame:
    """Conversions and revenue within `days` after each delivery, per campaign and variant, with uplift.

    deliveries: campaign, variant, member_id, is_control (bool), sent_day (local day number)
    purchases:  member_id, day, orders, net_cents (analytics.frames.purchase_days)

    A member converts when they make a purchase (not refunded in full) on the day of the delivery or within
    the `days` after it; revenue is the net spend of those purchases. Each variant is compared with the control
    group of its campaign (`analytics.uplift.uplift`). Returns one row per campaign and variant.
    """
    columns = [
        "campaign",
        "variant",
        "members",
        "conversions",
        "conversion_rate",
        "revenue_cents",
        "uplift",
        "ci_low",
        "ci_high",
        "significant",
    ]
    if deliveries.empty:
        return pd.DataFrame(columns=columns)
    bought = purchases[purchases["orders"] > 0][["member_id", "day", "net_cents"]]
    joined = deliveries.merge(bought, on="member_id", how="left")
    window = (joined["day"] >= joined["sent_day"]) & (joined["day"] <= joined["sent_day"] + days)
    joined["converted"] = window
    joined["revenue"] = np.where(window, joined["net_cents"], 0)
    per_member = joined.groupby(["campaign", "variant", "is_control", "member_id"], dropna=False).agg(
        converted=("converted", "any"), revenue=("revenue", "sum")
    )
    groups = per_member.groupby(["campaign", "variant", "is_control"]).agg(
        members=("converted", "size"), conversions=("converted", "sum"), revenue_cents=("revenue", "sum")
    )
    groups = groups.reset_index()
    rows = []
    for campaign, part in groups.groupby("campaign"):
        control = part[part["is_control"]]
        control_n = int(control["members"].sum())
        control_conversions = int(control["conversions"].sum())
        for _, row in part.iterrows():
            n, conversions = int(row["members"]), int(row["conversions"])
            result = (
                uplift(n, conversions, control_n, control_conversions)
                if not row["is_control"]
                else {"uplift": None, "ci_low": None, "ci_high": None, "significant": False}
            )
            rows.append(
                [
                    campaign,
                    row["variant"],
                    n,
                    conversions,
                    conversions / n if n else None,
                    int(row["revenue_cents"]),
                    result["uplift"],
                    result["ci_low"],
                    result["ci_high"],
                    result["significant"],
                ]
            )
    return pd.DataFrame(rows, columns=columns)


def challenge_completion(participations: pd.DataFrame) -> float | None:
    """Completed ÷ joined challenge participations in the period. Columns: member_id, challenge, completed."""
    if participations.empty:
        return None
    return float(participations["completed"].astype(bool).mean())


def partner_performance(redemptions: pd.DataFrame) -> pd.DataFrame:
    """Redemptions, points and members per partner. Columns: partner, member_id, points."""
    if redemptions.empty:
        return pd.DataFrame(columns=["partner", "redemptions", "points", "members"])
    grouped = redemptions.groupby("partner").agg(
        redemptions=("points", "size"), points=("points", "sum"), members=("member_id", "nunique")
    )
    return grouped.reset_index().sort_values("points", ascending=False, ignore_index=True)


def optional_figures() -> dict:
    """What the dashboard can show of the apps being built: "not available" (None) until their models exist."""
    return {
        "challenge_completion": NOT_AVAILABLE
        if model_or_none("rewards", "ChallengeParticipation") is None
        else "wire up: analytics.optional.challenge_completion",
        "partner_performance": NOT_AVAILABLE
        if model_or_none("rewards", "Redemption") is None
        else "wire up: analytics.optional.partner_performance",
        "campaign_results": NOT_AVAILABLE
        if model_or_none("campaigns", "Delivery") is None
        else "wire up: analytics.optional.campaign_results",
    }
