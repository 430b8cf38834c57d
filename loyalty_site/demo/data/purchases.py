"""The purchases of the demo, planned from a seed: how many a day, when, where, what was in the basket."""

import itertools
import math
import random
from collections.abc import Iterable, Iterator
from datetime import date, datetime, time, timedelta, tzinfo
from decimal import Decimal

from .plans import Buyer, PlannedLine, PlannedPurchase, PlannedRefund
from .vocabulary import _ONLINE_HOURS_CUM, _STORE_HOURS_CUM, CATEGORIES, CENT, ONLINE, STORES, _weighted, season


class PurchasePlanner:
    """A chronological stream of purchases: how many per day follows the season and the members active that
    day; who buys is drawn by each member's weight, so a few buy weekly and most a few times a year."""

    def __init__(self, *, seed: int, first_day: date, last_day: date, tz: tzinfo) -> None:
        self.rng = random.Random(f"{seed}:purchases")
        self.first_day, self.last_day, self.tz = first_day, last_day, tz
        self.days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
        self.seasons = [season(day) for day in self.days]
        self._season_prefix = [0.0, *itertools.accumulate(self.seasons)]
        self._categories, self._category_cum = _weighted((category, category[2]) for category in CATEGORIES)

    def exposure(self, active_from: date, active_until: date) -> float:
        """The sum of the season over a member's active days: their expected share is weight x exposure."""
        lo = max((active_from - self.first_day).days, 0)
        hi = min((active_until - self.first_day).days + 1, len(self.days))
        return self._season_prefix[hi] - self._season_prefix[lo] if hi > lo else 0.0

    def stream(
        self, buyers: list[Buyer], total: int, extra: Iterable[tuple[datetime, int]] = ()
    ) -> Iterator[PlannedPurchase]:
        """`total` purchases drawn from `buyers`, plus the `extra` (time, buyer index) ones, in time order."""
        rng = self.rng
        extra_by_day: dict[date, list[tuple[datetime, int]]] = {}
        for at, buyer_index in extra:
            extra_by_day.setdefault(at.date(), []).append((at, buyer_index))
        total -= sum(len(items) for items in extra_by_day.values())
        counts = self._counts_per_day(buyers, max(total, 0))
        starting: dict[date, list[int]] = {}
        ending: dict[date, list[int]] = {}
        for index, buyer in enumerate(buyers):
            if buyer.weight > 0 and buyer.active_until >= buyer.active_from:
                starting.setdefault(buyer.active_from, []).append(index)
                ending.setdefault(buyer.active_until + timedelta(days=1), []).append(index)
        # The weights of the members active at some time in the current week, rebuilt weekly (rebuilding for
        # each day costs more than drawing again when a draw falls outside the member's active days).
        weights = [0.0] * len(buyers)
        population = range(len(buyers))
        sequence = itertools.count(1)
        cumulative: list[float] = []
        for day_index, day in enumerate(self.days):
            if day_index % 7 == 0:
                for offset in range(7):
                    for index in starting.get(day + timedelta(days=offset), ()):
                        weights[index] = buyers[index].weight
                    for index in ending.get(day - timedelta(days=offset), ()):
                        weights[index] = 0.0
                cumulative = list(itertools.accumulate(weights))
            todays = [(at, index, self._online(day, buyers[index])) for at, index in extra_by_day.get(day, ())]
            for index in (
                rng.choices(population, cum_weights=cumulative, k=counts[day_index]) if counts[day_index] else ()
            ):
                while not buyers[index].active_from <= day <= buyers[index].active_until:
                    index = rng.choices(population, cum_weights=cumulative)[0]
                online = self._online(day, buyers[index])
                todays.append((self._moment(day, online), index, online))
            todays.sort(key=lambda item: (item[0], item[1]))
            festive = day.month == 12 or self.seasons[day_index] >= 2.0
            for at, index, online in todays:
                yield self._purchase(next(sequence), buyers[index], at, online, festive)

    def _counts_per_day(self, buyers: list[Buyer], total: int) -> list[int]:
        active = [0.0] * (len(self.days) + 1)
        for buyer in buyers:
            if buyer.weight <= 0 or buyer.active_until < buyer.active_from:
                continue
            lo = max((buyer.active_from - self.first_day).days, 0)
            hi = min((buyer.active_until - self.first_day).days + 1, len(self.days))
            if hi > lo:
                active[lo] += buyer.weight
                active[hi] -= buyer.weight
        demand = [s * a for s, a in zip(self.seasons, itertools.accumulate(active), strict=False)]
        whole = sum(demand)
        if not whole:
            return [0] * len(self.days)
        shares = [total * d / whole for d in demand]
        counts = [int(share) for share in shares]
        # Largest remainder: the counts add up to exactly `total`.
        by_remainder = sorted(range(len(shares)), key=lambda n: counts[n] - shares[n])
        for n in by_remainder[: total - sum(counts)]:
            counts[n] += 1
        return counts

    def _online(self, day: date, buyer: Buyer) -> bool:
        # Most shops are closed on Sundays in Poland (the Sunday trading ban): Sunday purchases are online.
        return day.weekday() == 6 or self.rng.random() < buyer.online_share

    def _moment(self, day: date, online: bool) -> datetime:
        rng = self.rng
        if online:
            hour = rng.choices(range(24), cum_weights=_ONLINE_HOURS_CUM)[0]
        else:
            hour = rng.choices(range(9, 21), cum_weights=_STORE_HOURS_CUM)[0]
        return datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=self.tz)

    def _purchase(self, sequence: int, buyer: Buyer, at: datetime, online: bool, festive: bool) -> PlannedPurchase:
        rng = self.rng
        if online:
            store = ONLINE
        elif rng.random() < 0.85:
            store = buyer.home_store
        else:
            store = rng.choice(STORES)
        median = 85.0 * (1.25 if festive else 1.0)
        value = min(max(rng.lognormvariate(math.log(median), 0.7), 20.0), 799.0)
        amount = Decimal(f"{math.floor(value)}.99") if rng.random() < 0.6 else Decimal(f"{value:.2f}")
        lines = self._lines(amount) if rng.random() < 0.4 else ()
        external_id = f"DEMO-{sequence:08d}"
        refund = None
        if rng.random() < 0.02:
            if lines and rng.random() < 0.5:
                refunded = rng.choice(lines).amount
            elif rng.random() < 0.4:
                refunded = amount
            else:
                refunded = (amount * Decimal(str(rng.uniform(0.2, 0.7)))).quantize(CENT)
            if refunded > 0:
                refund = PlannedRefund(f"R-{external_id}", refunded, at + timedelta(days=rng.uniform(1, 14)))
        return PlannedPurchase(
            member_id=buyer.member_id,
            source="eshop" if online else "pos",
            external_id=external_id,
            store=store,
            purchased_at=at,
            amount=amount,
            lines=lines,
            refund=refund,
        )

    def _lines(self, amount: Decimal) -> tuple[PlannedLine, ...]:
        rng = self.rng
        count = rng.choices((1, 2, 3, 4), cum_weights=(35, 65, 85, 100))[0]
        count = min(count, int(amount / Decimal("5")) or 1)
        shares = [rng.random() + 0.3 for _ in range(count)]
        whole = sum(shares)
        parts = [(amount * Decimal(str(share / whole))).quantize(CENT) for share in shares[:-1]]
        parts.append(amount - sum(parts, Decimal("0")))
        lines = []
        for part in parts:
            if part <= 0:
                return ()
            name, code, _share, products = rng.choices(self._categories, cum_weights=self._category_cum)[0]
            product = rng.randrange(len(products))
            lines.append(PlannedLine(f"{code}-{product + 1:03d}", products[product], name, part))
        return tuple(lines)


def showcase_weight(*, target: float, showcase_exposure: float, others: float, total: int) -> float:
    """The weight that gives the showcase member about `target` of `total` purchases, where `others` is the
    sum of weight x exposure over everyone else."""
    if showcase_exposure <= 0 or total <= target or others <= 0:
        return 40.0
    return target * others / (showcase_exposure * (total - target))
