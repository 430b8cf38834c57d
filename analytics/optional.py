"""Figures from the apps around the points economy: campaign results, challenge completion, partner performance.

Each figure is a pure function of DataFrames with the columns documented on it; the loaders below read the real
models (campaigns.Delivery, engagement.ChallengeProgress/ChallengeCompletion, rewards.Redemption) for a period,
and `optional_figures(period)` gives the dashboard's snapshot their rows (`services.dashboard_compute`).
"""

from datetime import timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from django.apps import apps
from django.db.models import Q
from django.utils import timezone

from analytics import frames
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


def _pln(cents) -> str:
    return str((Decimal(int(cents)) / 100).quantize(Decimal("0.01")))


def challenge_participations(period) -> pd.DataFrame:
    """Members taking part in challenges running during the period: member_id, challenge, completed.

    Taking part is having progress or a completion (a profile challenge completes without progress rows)."""
    from rewards.engagement.models import Challenge, ChallengeCompletion, ChallengeProgress

    start, end = frames.local_midnight(period.start), frames.local_midnight(period.end + timedelta(days=1))
    running = Challenge.objects.filter(starts_at__lt=end, ends_at__gte=start)
    progress = set(
        ChallengeProgress.objects.filter(challenge__in=running, value__gt=0).values_list("member_id", "challenge__code")
    )
    completed = set(
        ChallengeCompletion.objects.filter(challenge__in=running).values_list("member_id", "challenge__code")
    )
    rows = [(member_id, code, (member_id, code) in completed) for member_id, code in sorted(progress | completed)]
    return pd.DataFrame(rows, columns=["member_id", "challenge", "completed"])


def challenge_table(participations: pd.DataFrame) -> list[dict]:
    """Per challenge: members taking part, completed, completion rate."""
    if participations.empty:
        return []
    grouped = participations.groupby("challenge").agg(members=("member_id", "nunique"), completed=("completed", "sum"))
    return [
        {
            "challenge": code,
            "members": int(row.members),
            "completed": int(row.completed),
            "rate": float(row.completed) / row.members if row.members else None,
        }
        for code, row in grouped.iterrows()
    ]


def partner_redemptions(period) -> pd.DataFrame:
    """Partner rewards redeemed in the period and not given back: partner, member_id, points, settlement_cents.

    The same rule as the partners' monthly settlement (rewards.partners.partner_settlement): a redemption whose
    voucher was cancelled or expired with the points returned (`restore_entry`) is not owed."""
    from rewards.models import Redemption

    start, end = frames.local_midnight(period.start), frames.local_midnight(period.end + timedelta(days=1))
    rows = Redemption.objects.filter(
        partner__isnull=False, created_at__gte=start, created_at__lt=end, restore_entry__isnull=True
    ).values_list("partner__name", "member_id", "points", "settlement_value")
    return pd.DataFrame(
        [
            (name, member_id, points, int(value * 100) if value is not None else 0)
            for name, member_id, points, value in rows
        ],
        columns=["partner", "member_id", "points", "settlement_cents"],
    )


def partner_table(redemptions: pd.DataFrame) -> list[dict]:
    """partner_performance plus what the programme owes each partner (settlement values, PLN as text)."""
    table = partner_performance(redemptions)
    owed = redemptions.groupby("partner")["settlement_cents"].sum() if not redemptions.empty else {}
    return [
        {
            "partner": row.partner,
            "redemptions": int(row.redemptions),
            "points": int(row.points),
            "members": int(row.members),
            "settlement": _pln(owed[row.partner]),
        }
        for row in table.itertuples()
    ]


def campaign_deliveries(period) -> tuple[pd.DataFrame, dict[str, int]]:
    """Campaign deliveries sent (or held out as control) in the period, and each campaign's attribution days.

    Columns: campaign, variant, member_id, is_control, sent_day. A control member's day is the day the delivery
    was decided (created); a sent one's the day it went out."""
    from campaigns.models import Delivery

    start, end = frames.local_midnight(period.start), frames.local_midnight(period.end + timedelta(days=1))
    rows = (
        Delivery.objects.filter(campaign__isnull=False, status__in=[Delivery.Status.SENT, Delivery.Status.CONTROL])
        .filter(
            Q(sent_at__gte=start, sent_at__lt=end) | Q(sent_at__isnull=True, created_at__gte=start, created_at__lt=end)
        )
        .values_list(
            "campaign__name",
            "variant__label",
            "member_id",
            "status",
            "sent_at",
            "created_at",
            "campaign__attribution_days",
        )
    )
    data, days = [], {}
    for campaign, variant, member_id, status, sent_at, created_at, attribution in rows:
        control = status == Delivery.Status.CONTROL
        when = timezone.localdate(sent_at or created_at)
        data.append((campaign, "control" if control else (variant or "A"), member_id, control, frames.day_number(when)))
        days[campaign] = attribution
    return pd.DataFrame(data, columns=["campaign", "variant", "member_id", "is_control", "sent_day"]), days


def campaign_table(deliveries: pd.DataFrame, purchases: pd.DataFrame, days: dict[str, int]) -> list[dict]:
    """campaign_results per campaign with its own attribution window, as plain rows for the snapshot."""
    out = []
    for campaign, part in deliveries.groupby("campaign", sort=True):
        result = campaign_results(part, purchases, days=int(days.get(campaign) or 7))
        for row in result.itertuples():
            out.append(
                {
                    "campaign": row.campaign,
                    "variant": row.variant,
                    "days": int(days.get(campaign) or 7),
                    "members": int(row.members),
                    "conversions": int(row.conversions),
                    "conversion_rate": None if row.conversion_rate is None else float(row.conversion_rate),
                    "revenue": _pln(row.revenue_cents),
                    "uplift": None if row.uplift is None or pd.isna(row.uplift) else float(row.uplift),
                    "ci_low": None if row.ci_low is None or pd.isna(row.ci_low) else float(row.ci_low),
                    "ci_high": None if row.ci_high is None or pd.isna(row.ci_high) else float(row.ci_high),
                    "significant": bool(row.significant),
                    # Percentage points, rounded for the page (the raw shares stay above).
                    "uplift_pp": None
                    if row.uplift is None or pd.isna(row.uplift)
                    else round(float(row.uplift) * 100, 1),
                    "ci_low_pp": None
                    if row.ci_low is None or pd.isna(row.ci_low)
                    else round(float(row.ci_low) * 100, 1),
                    "ci_high_pp": None
                    if row.ci_high is None or pd.isna(row.ci_high)
                    else round(float(row.ci_high) * 100, 1),
                }
            )
    return out


def optional_figures(period, purchases: pd.DataFrame) -> dict:
    """The snapshot's rows of challenge completion, partner performance and campaign results for the period.

    `purchases` is analytics.frames.purchase_days (every store: a campaign's buyers may buy anywhere)."""
    participations = challenge_participations(period)
    deliveries, days = campaign_deliveries(period)
    return {
        "challenge_completion": challenge_completion(participations),
        "challenges": challenge_table(participations),
        "partners": partner_table(partner_redemptions(period)),
        "campaigns": campaign_table(deliveries, purchases, days),
    }
