"""Reads for analytics: the database filters and computes per row, pandas gets the result as DataFrames.

On PostgreSQL the server filters the purchases and packs them into a few large binary texts of fixed-width
records that numpy reads without parsing (`_purchase_days_postgresql`); members come as a few large CSV texts
that `pandas.read_csv` parses (`_chunked_frame`). Both beat `read_sql` and `COPY ... TO STDOUT` (which sends
one message per row). Other databases (the SQLite demo) read the purchase rows through the ORM: same
columns, same values. Small aggregates (points, tiers) are GROUP BYs in SQL.

Money is carried in grosze (int64), so sums are exact; days are integers counted from 1970-01-01 in the
site's time zone.
"""

import io
import itertools
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone

from members.models import Member, Purchase
from rewards.models import LedgerEntry, PointsAccount, Tier, TierChange

EPOCH = date(1970, 1, 1)

PURCHASE_DAY_COLUMNS = ["member_id", "day", "store", "orders", "net_cents"]


def day_number(day: date) -> int:
    return (day - EPOCH).days


def day_date(number: int) -> date:
    return EPOCH + timedelta(days=int(number))


def local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True)
class Period:
    """Days from `start` to `end`, both included."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Period":
        """The period of the same length just before this one."""
        end = self.start - timedelta(days=1)
        return Period(end - timedelta(days=self.days - 1), end)

    @property
    def start_day(self) -> int:
        return day_number(self.start)

    @property
    def end_day(self) -> int:
        return day_number(self.end)


def _chunked_frame(sql: str, params: list, columns: list[str], dtypes: dict, chunks: int = 64) -> pd.DataFrame:
    """Read the rows of `sql` as a few large CSV texts the server builds (string_agg), into one DataFrame.

    A million rows sent one by one (COPY sends a message per row, a cursor a tuple per row) cost the client
    more than the server's whole GROUP BY; 64 texts of ~15,000 lines cost almost nothing to receive, and
    pandas parses them in C. The columns must hold no comma or newline (numbers, store codes).
    """
    line = " || ',' || ".join(f"g.{column}::text" for column in columns)
    statement = f"SELECT string_agg({line}, E'\\n') FROM ({sql}) AS g GROUP BY g.{columns[0]} %% {chunks}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        texts = [row[0] for row in cursor.fetchall() if row[0]]
    if not texts:
        return pd.DataFrame({c: pd.Series(dtype=dtypes[c]) for c in columns})
    return pd.read_csv(io.StringIO("\n".join(texts)), names=columns, dtype=dtypes, keep_default_na=False)


_PURCHASE_DTYPES = {"member_id": "int64", "day": "int64", "store": "object", "orders": "int64", "net_cents": "int64"}


def purchase_days(*, until: date | None = None, member_ids=None) -> pd.DataFrame:
    """One row per purchase: member, local day, store, orders (1, or 0 for a purchase refunded in full) and
    the net spend in grosze.

    Net spend is the amount less what was refunded of it, counted on the day of the purchase (see
    docs/metrics.md); a fully refunded purchase is no order and adds nothing. Days up to `until` inclusive.
    Every figure sums or groups these rows, so rows of one member, day and store may be one row or several
    (tests build them both ways). Not grouped in SQL: on a million purchases the GROUP BY took longer than
    pandas does, and removed under 7% of the rows.
    """
    if connection.vendor == "postgresql":
        return _purchase_days_postgresql(until=until, member_ids=member_ids)
    queryset = Purchase.objects.all()
    if until is not None:
        queryset = queryset.filter(purchased_at__lt=local_midnight(until + timedelta(days=1)))
    if member_ids is not None:
        queryset = queryset.filter(member_id__in=list(member_ids))
    rows = list(queryset.values_list("member_id", "purchased_at", "store", "amount", "refunded_amount"))
    return purchase_days_from_rows(rows)


# One purchase as the server packs it: member id, purchased_at (timestamptz_send: microseconds since
# 2000-01-01 UTC) and net spend in grosze, each a big-endian int64.
_PURCHASE_RECORD = np.dtype([("member_id", ">i8"), ("at", ">i8"), ("net_cents", ">i8")])
_POSTGRES_EPOCH_US = 946_684_800_000_000  # 2000-01-01 in microseconds since 1970-01-01
_DAY_NS = 86_400_000_000_000


def _purchase_days_postgresql(*, until: date | None, member_ids) -> pd.DataFrame:
    """`purchase_days` on PostgreSQL: fixed-width binary records, concatenated by the server per store.

    The server only filters, subtracts the refund and packs 24 bytes per purchase (int8send,
    timestamptz_send: no text formatting); numpy reads the packed bytes without parsing, and pandas turns the
    instants into local days (the site's zone, as `timezone.localtime` does). The store is the group's key, so
    it travels once per group instead of once per row. About 40% less server CPU than formatting CSV lines
    and a fraction of the client's parsing (docs/benchmarks.md, "Analytics").
    """
    where = ["TRUE"]
    params: list = []
    if until is not None:
        where.append("purchased_at < %s")
        params.append(local_midnight(until + timedelta(days=1)))
    if member_ids is not None:
        where.append("member_id = ANY(%s)")
        params.append(list(member_ids))
    sql = (
        "SELECT store, string_agg(int8send(member_id) || timestamptz_send(purchased_at)"  # noqa: S608 (our table, our clauses)
        " || int8send(ROUND((amount - refunded_amount) * 100)::bigint), ''::bytea)"
        f" FROM {Purchase._meta.db_table} WHERE {' AND '.join(where)} GROUP BY store, member_id %% 16"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        groups = [(store, np.frombuffer(bytes(blob), dtype=_PURCHASE_RECORD)) for store, blob in cursor.fetchall()]
    if not groups:
        return pd.DataFrame({c: pd.Series(dtype=_PURCHASE_DTYPES[c]) for c in PURCHASE_DAY_COLUMNS})
    records = np.concatenate([part for _, part in groups])
    stores = np.repeat(np.array([store for store, _ in groups], dtype=object), [len(part) for _, part in groups])
    utc_ns = (records["at"].astype("int64") + _POSTGRES_EPOCH_US) * 1000
    local = pd.DatetimeIndex(utc_ns.view("datetime64[ns]")).tz_localize("UTC")
    local = local.tz_convert(timezone.get_current_timezone()).tz_localize(None)
    net_cents = records["net_cents"].astype("int64")
    return pd.DataFrame(
        {
            "member_id": records["member_id"].astype("int64"),
            "day": local.asi8 // _DAY_NS,
            "store": stores,
            "orders": (net_cents > 0).astype("int64"),
            "net_cents": net_cents,
        }
    )


def purchase_days_from_rows(rows) -> pd.DataFrame:
    """(member_id, purchased_at, store, amount, refunded_amount) rows as `purchase_days` reads them in SQL."""
    if not rows:
        return pd.DataFrame({c: pd.Series(dtype=_PURCHASE_DTYPES[c]) for c in PURCHASE_DAY_COLUMNS})
    tz = timezone.get_current_timezone()
    frame = pd.DataFrame(
        {
            "member_id": [row[0] for row in rows],
            "day": [day_number(timezone.localtime(row[1], tz).date()) for row in rows],
            "store": [row[2] for row in rows],
            "net_cents": [round((row[3] - row[4]) * 100) for row in rows],
        }
    )
    frame["orders"] = (frame["net_cents"] > 0).astype("int64")
    return frame[PURCHASE_DAY_COLUMNS].astype(_PURCHASE_DTYPES)


def members_frame(*, member_ids=None) -> pd.DataFrame:
    """Every member who is not merged into another: id, the local day they joined, status."""
    queryset = Member.objects.exclude(status=Member.Status.MERGED)
    if member_ids is not None:
        queryset = queryset.filter(id__in=list(member_ids))
    if connection.vendor == "postgresql":
        sql, params = queryset.values("id", "joined_at", "status").query.sql_with_params()
        day = "(g.joined_at AT TIME ZONE %s)::date - DATE '1970-01-01'"
        frame = _chunked_frame(
            f"SELECT g.id AS member_id, {day} AS joined_day, g.status FROM ({sql}) AS g",  # noqa: S608
            [str(timezone.get_current_timezone()), *params],
            ["member_id", "joined_day", "status"],
            {"member_id": "int64", "joined_day": "int64", "status": "object"},
        )
        return frame.sort_values("member_id", ignore_index=True)
    tz = timezone.get_current_timezone()
    rows = list(queryset.values_list("id", "joined_at", "status"))
    return pd.DataFrame(
        {
            "member_id": np.array([r[0] for r in rows], dtype="int64"),
            "joined_day": np.array([day_number(timezone.localtime(r[1], tz).date()) for r in rows], dtype="int64"),
            "status": [r[2] for r in rows],
        }
    )


def points_sums(*periods: Period) -> list[dict[str, int]]:
    """For each period: points earned, redeemed and expired in it, and outstanding (available, pending) at its
    end. One pass over the ledger for all the periods."""
    aggregates = {}
    for index, period in enumerate(periods):
        start, end = local_midnight(period.start), local_midnight(period.end + timedelta(days=1))
        in_period = Q(created_at__gte=start, created_at__lt=end)
        aggregates |= {
            f"earned_{index}": Sum("points", filter=in_period & Q(kind__in=["earn", "bonus"], points__gt=0)),
            f"redeemed_{index}": Sum("points", filter=in_period & Q(kind="redeem")),
            f"expired_{index}": Sum("points", filter=in_period & Q(kind="expire")),
            f"outstanding_{index}": Sum("points", filter=Q(created_at__lt=end, bucket="available")),
            f"pending_{index}": Sum("points", filter=Q(created_at__lt=end, bucket="pending")),
        }
    sums = LedgerEntry.objects.aggregate(**aggregates)
    return [
        {
            "earned": int(sums[f"earned_{i}"] or 0),
            "redeemed": -int(sums[f"redeemed_{i}"] or 0),
            "expired": -int(sums[f"expired_{i}"] or 0),
            "outstanding": int(sums[f"outstanding_{i}"] or 0),
            "pending": int(sums[f"pending_{i}"] or 0),
        }
        for i in range(len(periods))
    ]


def engaged_member_ids(period: Period) -> np.ndarray:
    """Members with a loyalty action other than a purchase in the period: a bonus or a redemption."""
    start, end = local_midnight(period.start), local_midnight(period.end + timedelta(days=1))
    ids = (
        LedgerEntry.objects.filter(created_at__gte=start, created_at__lt=end, kind__in=["bonus", "redeem"])
        .order_by()  # else the model's ordering joins the DISTINCT: one row per entry, not per member
        .values_list("member_id", flat=True)
        .distinct()
    )
    return np.fromiter(ids, dtype="int64")


def points_by_month(first: date, end: date) -> pd.DataFrame:
    """Earned and redeemed points per calendar month from `first` (a month's first day) to `end`."""
    from django.db.models.functions import TruncMonth

    rows = (
        LedgerEntry.objects.filter(
            created_at__gte=local_midnight(first),
            created_at__lt=local_midnight(end + timedelta(days=1)),
            kind__in=["earn", "bonus", "redeem", "expire"],
        )
        .annotate(month=TruncMonth("created_at"))
        .values("month")
        .annotate(
            earned=Sum("points", filter=Q(kind__in=["earn", "bonus"], points__gt=0)),
            redeemed=Sum("points", filter=Q(kind="redeem")),
            expired=Sum("points", filter=Q(kind="expire")),
        )
    )
    data = {}
    for row in rows:
        month = row["month"]
        key = (month.date() if isinstance(month, datetime) else month).strftime("%Y-%m")
        data[key] = (int(row["earned"] or 0), -int(row["redeemed"] or 0), -int(row["expired"] or 0))
    return pd.DataFrame([(k, *v) for k, v in sorted(data.items())], columns=["month", "earned", "redeemed", "expired"])


class LedgerFigures:
    """The ledger's points per period and per month, read in one pass.

    The days in `edges` cut time into intervals ([edge, next edge), local midnights). On PostgreSQL one scan of
    the ledger sums each interval's points by kind and the stock (available, pending) before each day of
    `stock_at`: plain aggregates with FILTER, no GROUP BY and no time zone conversion per row (under half the
    server CPU of `points_sums` and `points_by_month` together, the latter converting and grouping every
    entry's month). A period or month whose limits are edges is then a sum of intervals, with the definitions
    of `points_sums` and `points_by_month`, which other databases (the SQLite demo) run instead.
    """

    def __init__(self, *, edges: list[date], stock_at: list[date]) -> None:
        self.edges = sorted(set(edges))
        self.stock_at = sorted(set(stock_at))
        self.sql = connection.vendor == "postgresql"
        if self.sql:
            self._read()

    def _read(self) -> None:
        bounds = [local_midnight(day) for day in self.edges]
        columns, params = [], []
        for start, end in itertools.pairwise(bounds):
            for condition in ("kind IN ('earn', 'bonus') AND points > 0", "kind = 'redeem'", "kind = 'expire'"):
                columns.append(f"SUM(points) FILTER (WHERE created_at >= %s AND created_at < %s AND {condition})")
                params += [start, end]
        for day in self.stock_at:
            for bucket in ("available", "pending"):
                columns.append(f"SUM(points) FILTER (WHERE created_at < %s AND bucket = '{bucket}')")
                params.append(local_midnight(day))
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {', '.join(columns)} FROM {LedgerEntry._meta.db_table}", params)  # noqa: S608
            values = np.array([int(v or 0) for v in cursor.fetchone()], dtype="int64")
        intervals = 3 * (len(bounds) - 1)
        self.flows = values[:intervals].reshape(-1, 3)
        self.stock = values[intervals:].reshape(-1, 2)

    def _flows(self, start: date, end: date) -> np.ndarray:
        """Earned, redeemed, expired from `start` to `end` (both days included; both limits are edges)."""
        return self.flows[self.edges.index(start) : self.edges.index(end + timedelta(days=1))].sum(axis=0)

    def points(self, period: Period) -> dict[str, int]:
        """As `points_sums` for one period (its start and the day after its end are edges, that day in stock_at)."""
        if not self.sql:
            return points_sums(period)[0]
        earned, redeemed, expired = self._flows(period.start, period.end)
        outstanding, pending = self.stock[self.stock_at.index(period.end + timedelta(days=1))]
        return {
            "earned": int(earned),
            "redeemed": -int(redeemed),
            "expired": -int(expired),
            "outstanding": int(outstanding),
            "pending": int(pending),
        }

    def by_month(self, first: date, end: date) -> pd.DataFrame:
        """As `points_by_month`, every month listed: `first` and every month's first day after it are edges."""
        if not self.sql:
            return points_by_month(first, end)
        rows = []
        month = first
        while month <= end:
            following = (month + timedelta(days=32)).replace(day=1)
            earned, redeemed, expired = self._flows(month, min(following - timedelta(days=1), end))
            rows.append((month.strftime("%Y-%m"), int(earned), -int(redeemed), -int(expired)))
            month = following
        return pd.DataFrame(rows, columns=["month", "earned", "redeemed", "expired"])


def tier_distribution() -> list[dict]:
    """Members per tier now (accounts without a tier under 'none'), in tier order."""
    counts = dict(
        PointsAccount.objects.exclude(member__status=Member.Status.MERGED)
        .values_list("tier_id")
        .annotate(n=Count("id"))
        .values_list("tier_id", "n")
    )
    rows = [{"tier": t.code, "name": t.name, "members": counts.get(t.id, 0)} for t in Tier.objects.order_by("rank")]
    if counts.get(None):
        rows.append({"tier": "", "name": "", "members": counts[None]})
    return rows


def tier_history(ends: list[date], *, members: pd.DataFrame | None = None) -> list[dict]:
    """Members per tier at the end of each day in `ends` (at midnight after it), rebuilt from the tier changes.

    A member's tier at a moment is the `to_tier` of their last `rewards.TierChange` before it; before their first
    change, that change's `from_tier`; a member whose account has a tier but no recorded change (a tier set by
    an import or before changes were recorded) has it throughout. Counted: members with a points account, not
    merged, who had joined by then. With every change recorded, the last day's counts are `tier_distribution`'s.
    Rows in tier order, then members without a tier (tier "" when there are any), each with one count per end.
    `members` is `members_frame()` when the caller has read it (every member, not a segment's).
    """
    members = members_frame() if members is None else members
    tier_ids = pd.DataFrame(
        list(PointsAccount.objects.values_list("member_id", "tier_id")), columns=["member_id", "tier_id"]
    )
    accounts = members[["member_id", "joined_day"]].merge(tier_ids, on="member_id").set_index("member_id")
    changes = pd.DataFrame(
        TierChange.objects.filter(member_id__in=PointsAccount.objects.values("member_id"))
        .order_by("member_id", "changed_at", "id")
        .values_list("member_id", "changed_at", "from_tier_id", "to_tier_id"),
        columns=["member_id", "changed_at", "from_tier_id", "to_tier_id"],
    )
    tiers = list(Tier.objects.order_by("rank").values_list("id", "code", "name"))
    # Before a member's first change: where that change started from.
    base = accounts["tier_id"].astype("float64")
    first = changes.drop_duplicates("member_id", keep="first").set_index("member_id")["from_tier_id"]
    base.loc[first.index.intersection(base.index)] = first.astype("float64")
    columns = {}
    for end in ends:
        moment = local_midnight(end + timedelta(days=1))
        tier = base.copy()
        before = changes[changes["changed_at"] < moment].drop_duplicates("member_id", keep="last")
        last = before.set_index("member_id")["to_tier_id"].astype("float64")
        tier.loc[last.index.intersection(tier.index)] = last
        joined = (accounts["joined_day"] <= day_number(end)).to_numpy()
        columns[end] = tier[joined].fillna(-1).astype("int64").value_counts()
    rows = [
        {"tier": code, "name": name, "members": [int(columns[end].get(tier_id, 0)) for end in ends]}
        for tier_id, code, name in tiers
    ]
    without = [int(columns[end].get(-1, 0)) for end in ends]
    if any(without):
        rows.append({"tier": "", "name": "", "members": without})
    return rows


def tier_movements(period: Period) -> dict[str, int]:
    """Tier changes in the period: up (to a higher rank or a first tier) and down."""
    start, end = local_midnight(period.start), local_midnight(period.end + timedelta(days=1))
    changes = TierChange.objects.filter(changed_at__gte=start, changed_at__lt=end).values_list(
        "from_tier__rank", "to_tier__rank"
    )
    up = down = 0
    for from_rank, to_rank in changes:
        if to_rank is not None and (from_rank is None or to_rank > from_rank):
            up += 1
        else:
            down += 1
    return {"up": up, "down": down}
