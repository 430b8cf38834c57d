"""Analytics writes: compute the dashboard and the member scores and store them as snapshots."""

import itertools
import time as clock
from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from analytics import clv, frames, metrics, optional, rfm
from analytics.frames import Period, day_number
from analytics.models import AnalyticsSettings, DashboardSnapshot, MemberScore


def analytics_settings() -> AnalyticsSettings:
    settings, _ = AnalyticsSettings.objects.get_or_create(pk=1)
    return settings


def month_ranges(end: date, count: int = 12) -> list[tuple[str, int, int]]:
    """The `count` calendar months ending with the one holding `end`: (YYYY-MM, first day, last day)."""
    months = []
    first = end.replace(day=1)
    for _ in range(count):
        following = (first + timedelta(days=32)).replace(day=1)
        months.append((first.strftime("%Y-%m"), day_number(first), day_number(following) - 1))
        first = (first - timedelta(days=1)).replace(day=1)
    return list(reversed(months))


def _json(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, np.integer | np.floating):
        return value.item()
    return value


FIT_SAMPLE = 10_000


def _summary(purchases: pd.DataFrame, as_of_day: int, cache: dict | None) -> pd.DataFrame:
    """`rfm.member_summary`, kept in `cache` within one refresh (scores and dashboard share the day)."""
    if cache is None:
        return rfm.member_summary(purchases, as_of_day)
    key = ("summary", as_of_day)
    if key not in cache:
        cache[key] = rfm.member_summary(purchases, as_of_day)
    return cache[key]


def _fit_sample(count: int, as_of_day: int) -> np.ndarray:
    """Which customers the models are fitted on: all up to FIT_SAMPLE, else a sample fixed by the day.

    The parameters describe the population; 10,000 customers pin them about as well as 100,000 (the CDNOW fit uses
    2,357) at a tenth of the time. Predictions are made for every customer.
    """
    if count <= FIT_SAMPLE:
        return np.arange(count)
    return np.sort(np.random.default_rng(as_of_day).choice(count, size=FIT_SAMPLE, replace=False))


def clv_model(summary: pd.DataFrame, as_of_day: int, horizon_months: int, cache: dict | None = None) -> pd.DataFrame:
    """Probability alive, expected purchases and predicted CLV (PLN) per member of `rfm.member_summary`.

    Columns are NaN when the models cannot be fitted (too few members with repeat purchases). `cache` keeps
    the fitted models per day within one refresh (the scores and the dashboard use the same day).
    """
    result = pd.DataFrame(index=summary.index)
    result["probability_alive"] = np.nan
    result["predicted_purchases"] = np.nan
    result["predicted_clv"] = np.nan
    if summary.empty:
        return result
    x = summary["frequency"].to_numpy(float)
    t_x = summary["recency_weeks"].to_numpy(float)
    age = summary["age_weeks"].to_numpy(float)
    spend = summary["repeat_mean_pln"].to_numpy(float)
    cache = {} if cache is None else cache
    if as_of_day not in cache:
        sample = _fit_sample(len(x), as_of_day)
        try:
            model = clv.fit_bgnbd(x[sample], t_x[sample], age[sample])
        except (ValueError, FloatingPointError):
            model = None
        try:
            spend_model = clv.fit_gamma_gamma(x[sample], spend[sample])
        except (ValueError, FloatingPointError):
            spend_model = None
        cache[as_of_day] = (model, spend_model)
    model, spend_model = cache[as_of_day]
    if model is None:
        return result
    result["probability_alive"] = model.probability_alive(x, t_x, age)
    purchases = model.expected_purchases(rfm.horizon_weeks(horizon_months), x, t_x, age)
    result["predicted_purchases"] = purchases
    if spend_model is not None:
        repeaters = x > 0
        population_mean = float(spend[repeaters].mean()) if repeaters.any() else None
        expected_spend = spend_model.expected_spend(x, spend, population_mean)
    else:
        # Without a spend model: the member's own mean (of the repeat purchases, else of the first one).
        expected_spend = np.where(x > 0, spend, summary["net_cents"].to_numpy(float) / 100)
    result["predicted_clv"] = np.round(purchases * expected_spend, 2)
    return result


def dashboard_compute(
    *,
    period: Period,
    store: str = "",
    with_details: bool = True,
    purchases: pd.DataFrame | None = None,
    cache: dict | None = None,
    segment: int = 0,
) -> dict:
    """Every figure of the dashboard for the period and the one before it, the charts' series and tables.

    `purchases` is `frames.purchase_days(until=period.end)` when the caller has read it already. `segment` (a
    campaigns segment's id, 0 for everyone) narrows the members and their purchases; the points, tiers and the
    programme tables stay programme-wide, as with a store.
    """
    settings = analytics_settings()
    previous = period.previous()
    member_ids = segment_member_ids(segment) if segment else None
    members = frames.members_frame(member_ids=member_ids)
    all_purchases = frames.purchase_days(until=period.end) if purchases is None else purchases
    if member_ids is not None:
        all_purchases = all_purchases[all_purchases["member_id"].isin(member_ids)]
    stores = sorted(all_purchases["store"].unique().tolist())
    purchases = all_purchases[all_purchases["store"] == store] if store else all_purchases
    # No figure below reads the store: without its column (Python objects) every selection copies less.
    all_purchases = all_purchases.drop(columns="store")
    purchases = purchases.drop(columns="store") if store else all_purchases

    months = month_ranges(period.end)
    month_firsts = [date.fromisoformat(label + "-01") for label, _, _ in months]
    ledger = frames.LedgerFigures(
        edges=[*month_firsts, previous.start, period.start, period.end + timedelta(days=1)],
        stock_at=[previous.end + timedelta(days=1), period.end + timedelta(days=1)],
    )
    points = {p: ledger.points(p) for p in (period, previous)}

    def figures_for(p: Period) -> dict:
        figures = metrics.member_counts(members, purchases, p, active_days=settings.active_days)
        figures.update(metrics.purchase_figures(purchases, p))
        figures.update(metrics.retention(purchases, p))
        figures["historical_clv"] = metrics.historical_clv(members, purchases, p)
        buyer_ids = metrics.buyers(all_purchases, p).index.to_numpy()
        figures["engagement_rate"] = metrics.engagement_rate(
            figures["members_total"], buyer_ids, frames.engaged_member_ids(p)
        )
        figures.update(metrics.points_figures(points[p], settings.point_value_pln))
        figures["challenge_completion"] = optional.challenge_completion(optional.challenge_participations(p))
        moves = frames.tier_movements(p)
        figures["tier_moves_up"], figures["tier_moves_down"] = moves["up"], moves["down"]
        summary = _summary(all_purchases, p.end_day, cache)
        model = clv_model(summary, p.end_day, settings.clv_horizon_months, cache)
        mean_clv = model["predicted_clv"].mean() if len(model) else np.nan
        figures["predicted_clv"] = None if np.isnan(mean_clv) else Decimal(str(round(float(mean_clv), 2)))
        figures["_summary"], figures["_model"] = summary, model
        return figures

    now, before = figures_for(period), figures_for(previous)
    summary, model = now.pop("_summary"), now.pop("_model")
    before.pop("_summary"), before.pop("_model")
    rows = []
    for code in now:
        change = metrics.change(now[code], before[code])
        rows.append(
            {
                "code": code,
                "value": _json(now[code]),
                "previous": _json(before[code]),
                "delta": _json(change["delta"]),
                "relative": change["relative"],
            }
        )
    data = {
        "period": [period.start.isoformat(), period.end.isoformat()],
        "previous": [previous.start.isoformat(), previous.end.isoformat()],
        "store": store,
        "segment": segment,
        "figures": rows,
    }
    if with_details:
        trend = metrics.monthly_trend(purchases, months)
        points = ledger.by_month(month_firsts[0], period.end).set_index("month")
        trend["points_earned"] = [int(points["earned"].get(m, 0)) for m in trend["month"]]
        trend["points_redeemed"] = [int(points["redeemed"].get(m, 0)) for m in trend["month"]]
        data["trend"] = {column: [_json(v) for v in trend[column]] for column in trend.columns}
        cohort = metrics.cohorts(members, purchases, months)
        for row in cohort["rows"]:
            row["revenue"] = _json(row["revenue"])
            row["revenue_per_member"] = _json(row["revenue_per_member"])
        data["cohorts"] = cohort
        data["tiers"] = frames.tier_distribution()
        # At the end of each month of the trend, the last one at the end of the period.
        ends = [min(frames.day_date(last), period.end) for _, _, last in months]
        everyone = members if member_ids is None else None  # tiers are programme-wide, as the points
        data["tier_history"] = {
            "months": [label for label, _, _ in months],
            "rows": frames.tier_history(ends, members=everyone),
        }
        scores = rfm.rfm_scores(summary)
        data["segments"] = {k: int(v) for k, v in scores["segment"].value_counts().items()}
        data["stores"] = stores
        data["churn_risk"] = churn_bands(model["probability_alive"])
        data["movement"] = segment_movement(period.end)
        data["optional"] = optional.optional_figures(period, all_purchases)
    return data


def segment_member_ids(segment: int) -> set[int]:
    """The members of a campaigns segment (analytics reads campaigns; evaluated in the database)."""
    from campaigns.models import Segment
    from campaigns.selectors import segment_members

    found = Segment.objects.filter(pk=segment).first()
    return set(segment_members(segment=found).values_list("pk", flat=True)) if found else set()


def segment_choices() -> list[tuple[int, str]]:
    from campaigns.models import Segment

    return list(Segment.objects.order_by("name").values_list("pk", "name"))


def segment_movement(end: date) -> dict | None:
    """Members moving between segments from the month before `end`'s month to `end`'s month (stored scores)."""
    month = end.replace(day=1)
    previous = (month - timedelta(days=1)).replace(day=1)
    pairs = (
        MemberScore.objects.filter(month=month, member__analytics_scores__month=previous)
        .values_list("member__analytics_scores__segment", "segment")
        .annotate(n=Count("id"))
        .order_by()
    )
    cells = [{"before": before, "after": after, "members": n} for before, after, n in pairs]
    if not cells:
        return None
    return {"month": month.strftime("%Y-%m"), "previous": previous.strftime("%Y-%m"), "cells": cells}


def churn_bands(probability_alive: pd.Series) -> list[dict]:
    """Members by churn risk (1 - probability alive) in bands of 20 percentage points."""
    risk = (1 - probability_alive.dropna()).clip(0, 1)
    edges = [0, 0.2, 0.4, 0.6, 0.8, 1.0000001]
    counts = np.histogram(risk, bins=edges)[0] if len(risk) else [0] * 5
    return [
        {"band": f"{int(edges[i] * 100)}-{min(100, round(edges[i + 1] * 100))}%", "members": int(c)}
        for i, c in enumerate(counts)
    ]


def dashboard_snapshot_store(
    *,
    date_from: date,
    date_to: date,
    store: str = "",
    purchases: pd.DataFrame | None = None,
    cache: dict | None = None,
    segment: int = 0,
) -> DashboardSnapshot:
    """Compute the dashboard for the range and store it, replacing an earlier snapshot of the same range."""
    started = clock.perf_counter()
    data = dashboard_compute(
        period=Period(date_from, date_to), store=store, purchases=purchases, cache=cache, segment=segment
    )
    took = int((clock.perf_counter() - started) * 1000)
    with transaction.atomic():
        snapshot, _ = DashboardSnapshot.objects.update_or_create(
            date_from=date_from,
            date_to=date_to,
            store=store,
            segment=segment,
            defaults={"computed_at": timezone.now(), "duration_ms": took, "data": data},
        )
    return snapshot


def member_scores_compute(
    *, as_of: date, purchases: pd.DataFrame | None = None, cache: dict | None = None
) -> pd.DataFrame:
    """RFM scores, segment and CLV figures of every member who bought by `as_of` (one row per member)."""
    settings = analytics_settings()
    if purchases is None:
        purchases = frames.purchase_days(until=as_of)
    summary = _summary(purchases, day_number(as_of), cache)
    scores = rfm.rfm_scores(summary)
    model = clv_model(summary, day_number(as_of), settings.clv_horizon_months, cache)
    result = summary[["recency_days", "orders", "net_cents"]].join(scores).join(model)
    result["churn_risk"] = (1 - result["probability_alive"]).clip(0, 1)
    return result


def member_scores_store(*, as_of: date, purchases: pd.DataFrame | None = None, cache: dict | None = None) -> int:
    """Store the scores as of `as_of` under its month, replacing that month's earlier scores. Returns the count."""
    scores = member_scores_compute(as_of=as_of, purchases=purchases, cache=cache)
    month = as_of.replace(day=1)
    computed_at = timezone.now()
    with transaction.atomic():
        MemberScore.objects.filter(month=month).delete()
        if scores.empty:
            return 0
        if connection.vendor == "postgresql":
            _copy_scores(scores, month, as_of, computed_at)
        else:
            MemberScore.objects.bulk_create(
                [_score_row(member_id, row, month, as_of, computed_at) for member_id, row in scores.iterrows()],
                batch_size=2000,
            )
    return len(scores)


def _none_if_nan(value):
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


def _score_row(member_id, row, month, as_of, computed_at) -> MemberScore:
    clv_value = _none_if_nan(row["predicted_clv"])
    return MemberScore(
        month=month,
        member_id=int(member_id),
        as_of=as_of,
        recency_days=int(row["recency_days"]),
        orders=int(row["orders"]),
        monetary=metrics.cents_to_pln(row["net_cents"]),
        r_score=int(row["r_score"]),
        f_score=int(row["f_score"]),
        m_score=int(row["m_score"]),
        segment=row["segment"],
        probability_alive=_none_if_nan(float(row["probability_alive"])),
        churn_risk=_none_if_nan(float(row["churn_risk"])),
        predicted_purchases=_none_if_nan(float(row["predicted_purchases"])),
        predicted_clv=None if clv_value is None else Decimal(str(round(float(clv_value), 2))),
        computed_at=computed_at,
    )


def _copy_scores(scores: pd.DataFrame, month: date, as_of: date, computed_at) -> None:
    """COPY the scores in PostgreSQL's text format, the lines built from plain Python values.

    Each value is written as `str`/`repr` would (floats in their shortest exact form, so the stored double is
    the computed one), missing values as NULL (\\N). Half the CPU of `DataFrame.to_csv` and a CSV COPY.
    """
    columns = [
        "month",
        "member_id",
        "as_of",
        "recency_days",
        "orders",
        "monetary",
        "r_score",
        "f_score",
        "m_score",
        "segment",
        "probability_alive",
        "churn_risk",
        "predicted_purchases",
        "predicted_clv",
        "computed_at",
    ]
    head, tail = f"{month.isoformat()}\t", f"\t{computed_at.isoformat()}"
    lines = map(
        "\t".join,
        zip(
            map(str, scores.index.astype("int64").tolist()),
            itertools.repeat(as_of.isoformat()),
            map(str, scores["recency_days"].astype("int64").tolist()),
            map(str, scores["orders"].astype("int64").tolist()),
            map(_cents_text, scores["net_cents"].astype("int64").tolist()),
            map(str, scores["r_score"].astype("int64").tolist()),
            map(str, scores["f_score"].astype("int64").tolist()),
            map(str, scores["m_score"].astype("int64").tolist()),
            scores["segment"].tolist(),
            _float_texts(scores["probability_alive"]),
            _float_texts(scores["churn_risk"]),
            _float_texts(scores["predicted_purchases"]),
            _float_texts(scores["predicted_clv"].round(2)),
            strict=False,
        ),
    )
    text = "".join(f"{head}{line}{tail}\n" for line in lines)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {MemberScore._meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        copy.write(text)


def _float_texts(values: pd.Series) -> list[str]:
    return ["\\N" if value != value else repr(value) for value in values.astype(float).tolist()]


def _cents_text(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def default_period(today: date | None = None) -> Period:
    """The last 30 days up to yesterday: what the nightly snapshot and the dashboard open with."""
    today = today or timezone.localdate()
    end = today - timedelta(days=1)
    return Period(end - timedelta(days=29), end)


def analytics_refresh(
    *, date_from: date | None = None, date_to: date | None = None, store: str = "", segment: int = 0
) -> DashboardSnapshot:
    """The nightly job and the staff's refresh: this month's member scores, then the dashboard snapshot."""
    period = default_period() if date_from is None or date_to is None else Period(date_from, date_to)
    purchases = frames.purchase_days(until=period.end)  # read once, used by both
    cache: dict = {}  # the models fitted for the scores serve the dashboard's current period
    member_scores_store(as_of=period.end, purchases=purchases, cache=cache)
    return dashboard_snapshot_store(
        date_from=period.start, date_to=period.end, store=store, purchases=purchases, cache=cache, segment=segment
    )
