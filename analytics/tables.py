"""The dashboard's tables built from a snapshot: one definition shown on the page and exported to CSV/XLSX."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from analytics.figures import KINDS, LABELS, SEGMENT_ORDER
from analytics.models import Segment


@dataclass
class Table:
    name: str
    title: str
    headers: list[str]
    rows: list[list]


TABLE_NAMES = ["figures", "trend", "segments", "movement", "churn_risk", "tiers", "tier_history", "cohorts"]


def _number(value, kind: str):
    """A stored figure as a value a spreadsheet reads: Decimal for money, a percentage for rates."""
    if value is None:
        return None
    if kind == "money":
        return Decimal(value)
    if kind == "rate":
        return round(float(value) * 100, 1)
    if kind == "number":
        return round(float(value), 2)
    return value


def figures_table(data: dict) -> Table:
    rows = []
    for row in data.get("figures", []):
        kind = KINDS.get(row["code"], "number")
        relative = row["relative"]
        rows.append(
            [
                str(LABELS.get(row["code"], row["code"])),
                _number(row["value"], kind),
                _number(row["previous"], kind),
                _number(row["delta"], kind),
                None if relative is None else round(relative * 100, 1),
            ]
        )
    return Table(
        "figures",
        _("Figures"),
        [_("Figure"), _("This period"), _("Previous period"), _("Change"), _("Change (%)")],
        rows,
    )


def trend_table(data: dict) -> Table:
    trend = data.get("trend") or {}
    months = trend.get("month", [])
    rows = [
        [
            month,
            Decimal(trend["revenue"][i]),
            trend["orders"][i],
            trend["buyers"][i],
            trend["points_earned"][i],
            trend["points_redeemed"][i],
        ]
        for i, month in enumerate(months)
    ]
    return Table(
        "trend",
        _("Monthly trend"),
        [
            _("Month"),
            _("Revenue (PLN)"),
            _("Purchases"),
            _("Members who bought"),
            _("Points earned"),
            _("Points redeemed"),
        ],
        rows,
    )


def segment_label(code: str) -> str:
    try:
        return str(Segment(code).label)
    except ValueError:
        return code


def segments_table(data: dict) -> Table:
    counts = data.get("segments") or {}
    rows = [[segment_label(code), counts.get(code, 0)] for code in SEGMENT_ORDER]
    return Table("segments", _("RFM segments"), [_("Segment"), _("Members")], rows)


def movement_table(data: dict) -> Table:
    movement = data.get("movement") or {}
    cells = {(c["before"], c["after"]): c["members"] for c in movement.get("cells", [])}
    headers = [_("Last month \\ this month"), *[segment_label(code) for code in SEGMENT_ORDER]]
    rows = [
        [segment_label(before), *[cells.get((before, after), 0) for after in SEGMENT_ORDER]] for before in SEGMENT_ORDER
    ]
    return Table("movement", _("Segment movement month to month"), headers, rows if cells else [])


def churn_table(data: dict) -> Table:
    rows = [[band["band"], band["members"]] for band in data.get("churn_risk") or []]
    return Table("churn_risk", _("Churn risk (1 - probability alive)"), [_("Risk"), _("Members")], rows)


def tiers_table(data: dict) -> Table:
    rows = [[tier["name"] or _("No tier"), tier["members"]] for tier in data.get("tiers") or []]
    return Table("tiers", _("Tier distribution"), [_("Tier"), _("Members")], rows)


def tier_history_table(data: dict) -> Table:
    """Members per tier at the end of each month (snapshots from before the history have none: no rows)."""
    history = data.get("tier_history") or {"months": [], "rows": []}
    rows = [[tier["name"] or _("No tier"), *tier["members"]] for tier in history["rows"]]
    return Table("tier_history", _("Tier distribution at the end of each month"), [_("Tier"), *history["months"]], rows)


def cohorts_table(data: dict) -> Table:
    cohorts = data.get("cohorts") or {"months": [], "rows": []}
    width = len(cohorts["months"])
    headers = [_("Joined"), _("Members"), _("Revenue (PLN)"), _("Revenue per member (PLN)")]
    headers += [_("Month %(n)s (%%)") % {"n": n} for n in range(width)]
    rows = []
    for row in cohorts["rows"]:
        cells = [None if v is None else round(v * 100, 1) for v in row["retention"]]
        cells += [None] * (width - len(cells))
        per_member = row["revenue_per_member"]
        rows.append(
            [
                row["cohort"],
                row["members"],
                Decimal(row["revenue"]),
                None if per_member is None else Decimal(per_member),
                *cells,
            ]
        )
    return Table("cohorts", _("Cohorts: retention by join month"), headers, rows)


BUILDERS = {
    "figures": figures_table,
    "trend": trend_table,
    "segments": segments_table,
    "movement": movement_table,
    "churn_risk": churn_table,
    "tiers": tiers_table,
    "tier_history": tier_history_table,
    "cohorts": cohorts_table,
}


def table(name: str, data: dict) -> Table:
    return BUILDERS[name](data)
