"""What happens to a purchase, decided once, without queries: whether it is refused and why, what it earns and
where the points go (pending or available, until when), and how the member's tier moves.

Every path that posts purchases asks these functions (`purchase_post`, the batch, the purchases import and,
through the batch, the demo data); the paths differ only in how they read what the functions need, how they
lock and how they write what the functions decide.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import models
from django.utils.functional import Promise
from django.utils.translation import gettext, ngettext

from members.models import Member, Purchase, PurchaseLine

from .earning import RuleSet, calculate_points
from .models import LedgerEntry, ProgramSettings, Tier
from .reasons import PURCHASE as PURCHASE_REASON
from .reasons import TIER_DOWNGRADE, TIER_QUALIFIED, TIER_UPGRADE, Reason

MAX_AMOUNT = Decimal("1e10")  # Purchase.amount has 12 digits, 2 after the point
ZERO = Decimal("0")

# What a problem is about: the member, the receipt (recorded for another member), or a field of the purchase
# ("source", "external_id", "store", "amount", "lines": the lines together) or of one line ("sku",
# "product_name", "category", "amount", with `line` set).
MEMBER = "member"
RECORDED = "recorded"


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a purchase is refused, in words for the person who sent it, and what it is about."""

    about: str
    message: str
    value: str = ""  # the value refused, as staff would find it in their file
    line: int | None = None  # for a problem of one line: its position among the purchase's lines, from 0


class _Unchecked:
    """The member was checked by the caller (or will be): purchase_problems leaves it alone."""


UNCHECKED = _Unchecked()


def _max_lengths(model: type[models.Model], names: tuple[str, ...]) -> tuple[tuple[str, Promise | str, int], ...]:
    # The verbose name is lazy, so a refusal names the field in the language it is written in.
    fields = [model._meta.get_field(name) for name in names]
    return tuple((f.name, f.verbose_name, f.max_length) for f in fields)


_PURCHASE_LIMITS = _max_lengths(Purchase, ("source", "external_id", "store"))
_LINE_LIMITS = _max_lengths(PurchaseLine, ("sku", "category", "product_name"))


def member_refusal(member_id: int, status: str | None, number: str) -> str:
    """Why points are not posted for this member (status None: no such member), in staff's words."""
    if status is None:
        return gettext("No member with id %(id)s.") % {"id": member_id}
    return gettext("Member %(number)s is %(status)s.") % {
        "number": number,
        "status": str(Member.Status(status).label).lower(),
    }


def recorded_for_another(*, source: str, external_id: str, number: str) -> str:
    """A purchase recorded for member `number`, posted again for someone else: a mistake, not a repeat."""
    return gettext("Purchase %(external_id)s from %(source)s is already recorded for member %(number)s.") % {
        "external_id": external_id,
        "source": source,
        "number": number,
    }


def line_problems(
    *, sku: str, product_name: str, category: str, amount: Decimal | None, line: int | None = None
) -> list[Problem]:
    """What is wrong with one line of a purchase (amount None: not known, not checked)."""
    problems = []
    if amount is not None and amount < 0:
        problems.append(Problem("amount", gettext("A line amount cannot be negative."), str(amount), line))
    values = {"sku": sku, "product_name": product_name, "category": category}
    for name, words, limit in _LINE_LIMITS:
        if len(values[name] or "") > limit:
            message = ngettext(
                "A line's %(field)s is longer than %(limit)d character.",
                "A line's %(field)s is longer than %(limit)d characters.",
                limit,
            ) % {"field": words, "limit": limit}
            problems.append(Problem(name, message, values[name][:40], line))
    return problems


def purchase_problems(
    *,
    source: str,
    external_id: str,
    amount: Decimal | None,
    store: str = "online",
    lines: Sequence = (),
    member_id: int | None = None,
    member_status: str | _Unchecked | None = UNCHECKED,
    member_number: str = "",
    recorded_for: tuple[int, str] | None = None,
) -> list[Problem]:
    """Every reason to refuse the purchase, most important first: the one validator of a purchase.

    `lines` are LineData (or anything with sku, product_name, category and amount). `member_status` None
    means no such member; left UNCHECKED, the member is not looked at. `recorded_for` is (member id, member
    number) of the member the purchase is recorded for already, when it is: someone else than `member_id` is
    a problem, the same member is a repeat (the caller skips it), not a problem. `amount` None: the caller
    could not read it (and said so), the amount is not checked.
    """
    problems: list[Problem] = []
    if member_status is not UNCHECKED and member_status != Member.Status.ACTIVE:
        problems.append(Problem(MEMBER, member_refusal(member_id, member_status, member_number)))
    if recorded_for is not None and recorded_for[0] != member_id:
        message = recorded_for_another(source=source, external_id=external_id, number=recorded_for[1])
        problems.append(Problem(RECORDED, message, external_id))
    if not source or not external_id:
        problems.append(
            Problem("external_id" if source else "source", gettext("A purchase needs a source and an external id."))
        )
    values = {"source": source, "external_id": external_id, "store": store}
    for name, words, limit in _PURCHASE_LIMITS:
        if len(values[name] or "") > limit:
            message = ngettext(
                "The %(field)s is longer than %(limit)d character.",
                "The %(field)s is longer than %(limit)d characters.",
                limit,
            ) % {"field": words, "limit": limit}
            problems.append(Problem(name, message, values[name][:40]))
    if amount is not None:
        if amount < 0:
            problems.append(Problem("amount", gettext("A purchase amount cannot be negative."), str(amount)))
        elif amount >= MAX_AMOUNT:
            problems.append(Problem("amount", gettext("The purchase amount is too large."), str(amount)))
    if lines:
        problems.extend(
            problem
            for index, line in enumerate(lines)
            if line.amount < 0
            for problem in line_problems(sku="", product_name="", category="", amount=line.amount, line=index)
        )
        total = sum((line.amount for line in lines), ZERO)
        if amount is not None and total > amount:
            message = gettext("The line amounts add up to more than the purchase amount.")
            problems.append(Problem("lines", message, str(total)))
        for index, line in enumerate(lines):
            problems.extend(
                line_problems(
                    sku=line.sku, product_name=line.product_name, category=line.category, amount=None, line=index
                )
            )
    return problems


def purchase_refusal(problems: list[Problem]) -> str | None:
    """The words of the first problem, or None: what a path that refuses a purchase whole says."""
    return problems[0].message if problems else None


# --- Tiers ---------------------------------------------------------------------------------------


def qualified_tier(*, tiers: Sequence[Tier], values: Mapping[str, Decimal]) -> Tier | None:
    """The highest tier whose threshold the member's figures reach (values by Tier.Basis)."""
    best = None
    for tier in tiers:
        if values.get(tier.basis, ZERO) >= tier.threshold:
            best = tier if best is None or tier.rank > best.rank else best
    return best


@dataclass(slots=True)  # not frozen: built per purchase, and a frozen one costs twice as much to make
class TierMove:
    """Where a member's tier goes: the tier and the start of the time below it after the move, and the change
    to record (from, to, reason) when the tier itself changes."""

    target: Tier | None  # the tier the figures qualify for
    tier: Tier | None
    below_since: datetime | None
    change: tuple[Tier | None, Tier | None, Reason] | None
    changed: bool  # the tier or below_since differ from before: something to write


def tier_move(
    *,
    current_tier: Tier | None,
    below_since: datetime | None,
    progress_value: Mapping[str, Decimal],
    tiers: Sequence[Tier],
    now: datetime,
    grace_days: int,
) -> TierMove:
    """The one tier state machine: upgrade at once; below the tier's threshold, start counting, and downgrade
    (possibly to no tier) only once `grace_days` have passed since; back at the tier's level, stop counting.
    `progress_value`: what counts towards a tier over the window, by Tier.Basis (spend, points)."""
    target = qualified_tier(tiers=tiers, values=progress_value)
    current_rank = current_tier.rank if current_tier else -1
    target_rank = target.rank if target else -1
    tier, since, change = current_tier, below_since, None
    if target_rank > current_rank or current_tier is None:
        # By id: Model.__eq__ costs more than the rest of the move, and this runs per purchase of a batch.
        if target is not None and (current_tier is None or target.pk != current_tier.pk):
            change = (current_tier, target, Reason(TIER_QUALIFIED if current_tier is None else TIER_UPGRADE))
            tier, since = target, None
    elif target_rank < current_rank:
        if below_since is None:
            since = now
        elif now - below_since >= timedelta(days=grace_days):
            change = (current_tier, target, Reason(TIER_DOWNGRADE, {"days": grace_days}))
            tier, since = target, None
    elif below_since is not None:
        since = None
    return TierMove(target, tier, since, change, changed=change is not None or since != below_since)


# --- The plan of a purchase ----------------------------------------------------------------------

SPEND = Tier.Basis.SPEND.value
POINTS = Tier.Basis.POINTS.value
PENDING = LedgerEntry.Bucket.PENDING.value
AVAILABLE = LedgerEntry.Bucket.AVAILABLE.value


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def expiry_for(earned_at: datetime, settings: ProgramSettings) -> datetime | None:
    if not settings.points_lifetime_months:
        return None
    return add_months(earned_at, settings.points_lifetime_months)


@dataclass(frozen=True, slots=True)
class PlanConfig:
    """The programme as a plan needs it, at one moment: the cached configuration (rewards.config) and now."""

    ruleset: RuleSet
    settings: ProgramSettings
    tiers: Sequence[Tier]  # ordered by rank; empty: tiers are left as they are
    now: datetime
    window_start: datetime  # the start of the rolling window that counts towards a tier

    @classmethod
    def at(cls, *, ruleset: RuleSet, settings: ProgramSettings, tiers: Sequence[Tier], now: datetime) -> "PlanConfig":
        return cls(ruleset, settings, tiers, now, add_months(now, -settings.tier_window_months))


@dataclass(slots=True)  # not frozen: built per purchase, and a frozen one costs twice as much to make
class Standing:
    """The member's standing before the purchase."""

    tier: Tier | None
    below_since: datetime | None = None
    # What counted towards a tier over the window before this purchase, by Tier.Basis; None: the tier is not
    # moved by this purchase (no tiers, or a batch that knows it cannot move).
    progress: Mapping[str, Decimal] | None = None


@dataclass(slots=True)
class PurchasePlan:
    """What posting the purchase writes: one earn entry (none without points) and, for available points, its
    lot; the tier move, when the tier is followed. The paths write it row by row or in sets."""

    points: int
    rules: list
    reason: Reason
    bucket: str  # PENDING or AVAILABLE
    available_at: datetime | None  # when pending points become available
    expires_at: datetime | None  # the lot's expiry, for available points
    progress: dict[str, Decimal] | None  # the standing's progress with this purchase counted
    tier: TierMove | None


def plan_purchase(
    *,
    external_id: str,
    amount: Decimal,
    store: str,
    purchased_at: datetime,
    lines: Sequence,
    standing: Standing,
    config: PlanConfig,
) -> PurchasePlan:
    """The one planning step of a purchase already validated (`purchase_problems`): its points with the rules
    applied at the member's tier, the pending window and the lot's expiry, and the tier it leads to.

    `lines`: rewards.earning.Line or members.services.LineData (both have amount, sku and category)."""
    earning = calculate_points(
        amount=amount, store=store, purchased_at=purchased_at, lines=lines, tier=standing.tier, ruleset=config.ruleset
    )
    points = earning.points
    settings = config.settings
    pending_days = settings.pending_days
    available_at = expires_at = None
    bucket = AVAILABLE
    if points > 0:
        ready_at = purchased_at + timedelta(days=pending_days)
        if pending_days and ready_at > config.now:
            bucket, available_at = PENDING, ready_at
        else:
            expires_at = expiry_for(max(purchased_at, ready_at) if pending_days else purchased_at, settings)
    progress = move = None
    if standing.progress is not None:
        progress = dict(standing.progress)
        if config.window_start <= purchased_at <= config.now:
            progress[SPEND] = progress.get(SPEND, ZERO) + amount
        if points > 0 and purchased_at >= config.window_start:
            progress[POINTS] = progress.get(POINTS, ZERO) + points
        move = tier_move(
            current_tier=standing.tier,
            below_since=standing.below_since,
            progress_value=progress,
            tiers=config.tiers,
            now=config.now,
            grace_days=settings.tier_grace_days,
        )
    reason = Reason(PURCHASE_REASON, {"number": external_id, "amount": str(amount)})
    return PurchasePlan(points, earning.applied, reason, bucket, available_at, expires_at, progress, move)
