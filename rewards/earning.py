"""How many points a purchase earns: a pure function of the purchase, the member's tier and the rules.

Kept free of queries so the single-purchase path and the batch path share it and the batch path can load
the rules once. Multipliers stack additively (2x and 3x promotions give 4x, not 6x), which is how members
read promotions and keeps a rule's cap meaningful.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import NamedTuple

from django.utils import timezone

from .models import EarningRule, ProgramSettings, Tier

ONE = Decimal("1")
ZERO = Decimal("0")
EXCLUDE = EarningRule.Kind.EXCLUDE.value
MULTIPLIER = EarningRule.Kind.MULTIPLIER.value
BONUS = EarningRule.Kind.BONUS.value


@dataclass(frozen=True)
class Line:
    amount: Decimal
    sku: str = ""
    category: str = ""


@dataclass
class Earning:
    points: int
    applied: list[dict] = field(default_factory=list)


class PlainRule(NamedTuple):
    """An EarningRule's fields as plain values: what calculate_points reads, for every rule and purchase of an
    import of millions of rows (a model's foreign key id goes through a descriptor on every read)."""

    id: int
    kind: str
    name: str
    tier_id: int | None
    store: str
    starts_at: datetime | None
    ends_at: datetime | None
    weekdays: str
    min_basket: Decimal | None
    sku: str
    category: str
    multiplier: Decimal | None
    max_points: int | None
    bonus_points: int | None

    @classmethod
    def of(cls, rule: EarningRule) -> "PlainRule":
        return cls(*(getattr(rule, name) for name in cls._fields))


@dataclass(frozen=True)
class RuleSet:
    """The active rules and settings, as `rewards.config` caches them until the configuration changes."""

    base_rate: Decimal
    cap: int | None
    rules: Sequence[EarningRule]

    @cached_property
    def plain_rules(self) -> tuple[PlainRule, ...]:
        return tuple(PlainRule.of(rule) for rule in self.rules)

    @cached_property
    def has_weekday_rules(self) -> bool:
        return any(rule.weekdays for rule in self.rules)

    @cached_property
    def base_label(self) -> str:
        return f"{self.base_rate.normalize():f} pt/PLN"

    @classmethod
    def from_settings(cls, settings: ProgramSettings) -> "RuleSet":
        return cls(
            base_rate=settings.base_points_per_pln,
            cap=settings.max_points_per_purchase,
            rules=tuple(EarningRule.objects.filter(is_active=True).order_by("id")),
        )


def _purchase_matches(rule: PlainRule, store: str, at: datetime, tier: Tier | None, weekday: int) -> bool:
    """Whether the rule applies to this purchase, its minimum basket apart (checked against what earns)."""
    if rule.tier_id is not None and (tier is None or tier.id != rule.tier_id):
        return False
    if rule.store and rule.store != store:
        return False
    if rule.starts_at is not None and at < rule.starts_at:
        return False
    if rule.ends_at is not None and at >= rule.ends_at:
        return False
    return not (rule.weekdays and weekday not in _weekdays(rule.weekdays))


@lru_cache(maxsize=64)
def _weekdays(text: str) -> frozenset[int]:
    return frozenset(int(day) for day in text.split(",") if day.strip().isdigit())


def _line_matches(rule: PlainRule, line: Line) -> bool:
    if rule.sku and rule.sku != line.sku:
        return False
    return not (rule.category and rule.category != line.category)


def calculate_points(
    *,
    amount: Decimal,
    store: str,
    purchased_at: datetime,
    lines: Sequence[Line] = (),
    tier: Tier | None,
    ruleset: RuleSet,
) -> Earning:
    """Points for a purchase and the list of what applied, for the member and staff to see.

    Excluded lines (alcohol, tobacco) earn nothing and unlock nothing: a multiplier's or a bonus's minimum
    basket counts only the lines that earn points, and a bonus for a category or SKU needs an earning line of
    it. An exclusion's own minimum basket counts the whole purchase. The per-purchase cap comes last, over
    everything (docs/architecture.md, "Earning rules")."""
    lines = list(lines) or [Line(amount=amount)]
    weekday = 0
    if ruleset.has_weekday_rules:
        # The programme's own time zone (settings.TIME_ZONE), not the viewer's: a Saturday promotion follows
        # the shops' calendar whoever posts the purchase.
        local = purchased_at.astimezone(timezone.get_default_timezone()) if purchased_at.tzinfo else purchased_at
        weekday = local.isoweekday()
    excludes: list[PlainRule] = []
    multipliers: list[PlainRule] = []
    bonuses: list[PlainRule] = []
    # One pass over the rules, positional arguments: this runs per purchase in imports of millions of rows.
    for rule in ruleset.plain_rules:
        if _purchase_matches(rule, store, purchased_at, tier, weekday):
            kind = rule.kind
            if kind == EXCLUDE:
                if rule.min_basket is None or amount >= rule.min_basket:
                    excludes.append(rule)
            elif kind == MULTIPLIER:
                multipliers.append(rule)
            elif kind == BONUS:
                bonuses.append(rule)
    earning_lines = lines
    excluded_amount = ZERO
    if excludes:
        earning_lines = []
        for line in lines:
            if any(_line_matches(rule, line) for rule in excludes):
                excluded_amount += line.amount
            else:
                earning_lines.append(line)
    earning_amount = amount - excluded_amount
    if multipliers:
        multipliers = [r for r in multipliers if r.min_basket is None or earning_amount >= r.min_basket]
    if bonuses:
        bonuses = [r for r in bonuses if r.min_basket is None or earning_amount >= r.min_basket]

    applied: list[dict] = []
    base = ZERO
    extra_by_rule: dict[int, Decimal] = {}
    tier_extra = ZERO
    for line in earning_lines:
        line_base = line.amount * ruleset.base_rate
        base += line_base
        if tier is not None and tier.earn_multiplier != ONE:
            tier_extra += line_base * (tier.earn_multiplier - ONE)
        for rule in multipliers:
            if _line_matches(rule, line):
                extra_by_rule[rule.id] = extra_by_rule.get(rule.id, ZERO) + line_base * (rule.multiplier - ONE)

    total = base
    applied.append({"rule": "base", "name": ruleset.base_label, "points": _floor(base)})
    if excluded_amount:
        applied.append({"rule": "excluded", "name": f"excluded {excluded_amount} PLN", "points": 0})
    if tier_extra:
        total += tier_extra
        applied.append({"rule": "tier", "name": f"{tier.name} x{tier.earn_multiplier}", "points": _floor(tier_extra)})
    for rule in multipliers:
        extra = extra_by_rule.get(rule.id)
        if not extra:
            continue
        if rule.max_points is not None:
            extra = min(extra, Decimal(rule.max_points))
        total += extra
        applied.append({"rule": rule.id, "name": rule.name, "points": _floor(extra)})
    for rule in bonuses:
        if (rule.sku or rule.category) and not any(_line_matches(rule, line) for line in earning_lines):
            continue
        total += rule.bonus_points
        applied.append({"rule": rule.id, "name": rule.name, "points": rule.bonus_points})

    points = max(_floor(total), 0)
    if ruleset.cap is not None and points > ruleset.cap:
        applied.append({"rule": "cap", "name": f"cap {ruleset.cap}", "points": ruleset.cap - points})
        points = ruleset.cap
    return Earning(points=points, applied=applied)


def _floor(value: Decimal) -> int:
    return math.floor(value)  # Decimal.__floor__: towards minus infinity, straight to an int
