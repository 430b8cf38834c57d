"""One member history posted four ways (purchase_post, the batch in 1 and 2 processes, the purchases import),
normalised so the ways can be compared: the helpers of tests/rewards/test_posting_paths.py.

A history runs on a simulated clock (`Clock`, which the tests put in place of `django.utils.timezone.now`):
the import cannot be told what "now" is, so every way reads the same clock and nothing depends on when the
test runs. Each way gets its own members and its own purchase source; refunds, redemptions and the periodic
jobs are applied between the postings through the services, the same for every way.
"""

import contextlib
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.apps import apps
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.color import no_style
from django.db import connection, transaction

from loyalty_site.files.importing import import_apply, import_job_create, import_preview
from members.models import Purchase, PurchaseLine
from members.services import LineData, MemberError
from rewards.batch import PurchaseRow, purchases_post_batch
from rewards.models import EarningRule, LedgerEntry, PointsAccount, PointsLot, Tier, TierChange
from rewards.services import (
    InsufficientPoints,
    PointsError,
    points_expire,
    points_redeem,
    points_release_pending,
    purchase_post,
    refund_post,
    tiers_recalculate_all,
)
from tests.factories import EarningRuleFactory, ProgramSettingsFactory, TierFactory

WARSAW = ZoneInfo("Europe/Warsaw")
# A Monday; histories run forward from here. Purchases are made between 8:00 and 20:59, away from the hours a
# daylight saving change skips or repeats, so the local time written in the import file means one moment.
START = datetime(2025, 1, 6, 9, 0, tzinfo=WARSAW)

ONE_BY_ONE = "one_by_one"
BATCH = "batch"
BATCH_2_PROCESSES = "batch_2_processes"
IMPORT = "import"
WAYS = (ONE_BY_ONE, BATCH, BATCH_2_PROCESSES, IMPORT)
SOURCES = {ONE_BY_ONE: "till", BATCH: "batch1", BATCH_2_PROCESSES: "batch2", IMPORT: "import"}

EXCLUDED, MULTIPLIED, PLAIN = "Alkohol", "Kosmetyki", "Dom"
CATEGORIES = (EXCLUDED, MULTIPLIED, PLAIN)
TIER_CODES = ("bronze", "silver", "gold")
IMPORT_HEADER = "purchase_id;member_number;purchased_at;amount;store;sku;category;line_amount"

_histories = itertools.count(1)


class Clock:
    """The time every service reads while a history runs."""

    def __init__(self):
        self.at = START

    def now(self) -> datetime:
        return self.at.astimezone(UTC)


# --- What a programme and a history are -----------------------------------------------------------


@dataclass(frozen=True)
class TierSpec:
    threshold: Decimal
    multiplier: Decimal
    basis: str  # Tier.Basis


@dataclass(frozen=True)
class Programme:
    base_rate: Decimal
    pending_days: int
    lifetime_months: int
    window_months: int
    grace_days: int
    cap: int | None  # the programme's cap per purchase
    tiers: tuple[TierSpec, TierSpec, TierSpec]
    excluded_min_basket: Decimal | None
    category_multiplier: Decimal
    category_max_points: int | None
    weekend_multiplier: Decimal
    weekend_max_points: int | None
    basket_min: Decimal
    basket_bonus: int
    silver_online_multiplier: Decimal | None  # a rule for one tier: earning depends on the tier reached
    promotion: tuple[int, int, Decimal] | None  # (first day, days, multiplier) counted from START


@dataclass(frozen=True)
class PurchaseSpec:
    member: int  # index into the way's members
    lines: tuple[tuple[str, int], ...]  # (category, cents)
    extra_cents: int  # the amount beyond the lines (the whole amount without lines)
    store: str
    days_back: int  # purchased this many days (and minutes) before it is posted
    minutes_back: int

    @property
    def amount(self) -> Decimal:
        return cents(sum(c for _, c in self.lines) + self.extra_cents)


@dataclass(frozen=True)
class Refund:
    purchase: int  # any number: taken modulo the purchases posted so far
    thirds: int  # 1..3 thirds of what is left to refund


@dataclass(frozen=True)
class Redeem:
    member: int
    percent: int  # of the member's balance in that way


@dataclass(frozen=True)
class Job:
    name: str  # "release", "expire", "tiers"


@dataclass(frozen=True)
class Step:
    days: int  # after the previous step
    hour: int
    purchases: tuple[PurchaseSpec, ...]
    actions: tuple  # Refund | Redeem | Job, after the purchases


@dataclass(frozen=True)
class History:
    members: int
    steps: tuple[Step, ...]


def cents(value: int) -> Decimal:
    return Decimal(value).scaleb(-2)


# --- Setting the programme up ---------------------------------------------------------------------


def tables_empty() -> None:
    """Empty the members' and the points' tables, as the demo's --reset does (TRUNCATE: the ledger refuses
    DELETE), so each example starts alone: the periodic jobs then see only its members, and it stays fast."""
    tables = [
        model._meta.db_table
        for label in ("members", "rewards")
        for model in apps.get_app_config(label).get_models(include_auto_created=True)
    ]
    statements = connection.ops.sql_flush(no_style(), tables, allow_cascade=True)
    with transaction.atomic():
        connection.ops.execute_sql_flush(statements)


def programme_set_up(programme: Programme) -> None:
    """Settings, tiers and rules as the programme says, as staff would type them in the admin. On a database
    without tiers or rules (a new one, or after `tables_empty`)."""
    assert not Tier.objects.exists() and not EarningRule.objects.exists(), "tiers or rules left from before"
    ProgramSettingsFactory(
        base_points_per_pln=programme.base_rate,
        pending_days=programme.pending_days,
        points_lifetime_months=programme.lifetime_months,
        tier_window_months=programme.window_months,
        tier_grace_days=programme.grace_days,
        max_points_per_purchase=programme.cap,
    )
    tiers = {
        code: TierFactory(
            code=code, rank=rank, threshold=spec.threshold, earn_multiplier=spec.multiplier, basis=spec.basis
        )
        for rank, (code, spec) in enumerate(zip(TIER_CODES, programme.tiers, strict=True))
    }
    EarningRuleFactory(name="Bez alkoholu", kind="exclude", category=EXCLUDED, min_basket=programme.excluded_min_basket)
    EarningRuleFactory(
        name="Kosmetyki",
        kind="multiplier",
        category=MULTIPLIED,
        multiplier=programme.category_multiplier,
        max_points=programme.category_max_points,
    )
    EarningRuleFactory(
        name="Weekend",
        kind="multiplier",
        weekdays="6,7",
        multiplier=programme.weekend_multiplier,
        max_points=programme.weekend_max_points,
    )
    EarningRuleFactory(
        name="Koszyk", kind="bonus", bonus_points=programme.basket_bonus, min_basket=programme.basket_min
    )
    if programme.silver_online_multiplier is not None:
        EarningRuleFactory(
            name="Srebrni online",
            kind="multiplier",
            multiplier=programme.silver_online_multiplier,
            tier=tiers["silver"],
            store="online",
        )
    if programme.promotion is not None:
        first_day, days, multiplier = programme.promotion
        EarningRuleFactory(
            name="Promocja",
            kind="multiplier",
            multiplier=multiplier,
            starts_at=START + timedelta(days=first_day),
            ends_at=START + timedelta(days=first_day + days),
        )


# --- Posting a history ----------------------------------------------------------------------------


@dataclass
class Way:
    name: str
    members: list
    log: list = field(default_factory=list)  # what each refund and redemption did, comparable across ways

    @property
    def source(self) -> str:
        return SOURCES[self.name]


@dataclass
class Posted:
    external_id: str
    spec: PurchaseSpec
    purchased_at: datetime
    refunded_cents: int = 0


def history_run(history: History, *, ways: dict[str, Way], clock: Clock, user) -> None:
    """Post the history into every way, step by step on the clock. Jobs run once for all ways' members."""
    number = next(_histories)
    posted: list[Posted] = []
    refunds = itertools.count(1)
    day = START
    everyone = [member.pk for way in ways.values() for member in way.members]
    for step_index, step in enumerate(history.steps):
        day = (day + timedelta(days=step.days)).replace(hour=step.hour)
        clock.at = day
        purchases = []
        for spec in step.purchases:
            purchased_at = day - timedelta(days=spec.days_back, minutes=spec.minutes_back)
            purchases.append(Posted(f"H{number}-{len(posted) + len(purchases)}", spec, purchased_at))
        for way in ways.values():
            purchases_post(way, purchases, user=user, name=f"h{number}-s{step_index}")
        posted.extend(purchases)
        for action in step.actions:
            if isinstance(action, Job):
                job_run(action.name, member_ids=everyone)
            elif isinstance(action, Refund) and posted:
                target = posted[action.purchase % len(posted)]
                left = int(target.spec.amount * 100) - target.refunded_cents
                amount = left * action.thirds // 3
                if amount <= 0:
                    continue
                target.refunded_cents += amount
                refund_id = f"Z{next(refunds)}"
                for way in ways.values():
                    way.log.append(refund_apply(way, target, refund_id, cents(amount)))
            elif isinstance(action, Redeem):
                for way in ways.values():
                    way.log.append(redeem_apply(way, action, key=f"h{number}-{len(way.log)}"))


def purchases_post(way: Way, purchases: list[Posted], *, user, name: str) -> None:
    if not purchases:
        return
    if way.name == ONE_BY_ONE:
        for posted in purchases:
            # A refusal shows in the snapshot: the purchase is not recorded.
            with contextlib.suppress(PointsError, MemberError):
                purchase_post(
                    member=way.members[posted.spec.member],
                    source=way.source,
                    external_id=posted.external_id,
                    amount=posted.spec.amount,
                    purchased_at=posted.purchased_at,
                    store=posted.spec.store,
                    lines=lines_of(posted),
                )
        return
    if way.name in (BATCH, BATCH_2_PROCESSES):
        rows = [
            PurchaseRow(
                member_id=way.members[posted.spec.member].pk,
                source=way.source,
                external_id=posted.external_id,
                amount=posted.spec.amount,
                purchased_at=posted.purchased_at,
                store=posted.spec.store,
                lines=lines_of(posted),
            )
            for posted in purchases
        ]
        purchases_post_batch(rows, workers=1 if way.name == BATCH else 2, chunk_size=3)
        return
    content = import_file(way, purchases).encode()
    job = import_job_create(
        kind="purchases",
        file=SimpleUploadedFile(f"{name}.csv", content),
        name=f"{name}.csv",
        user=user,
        only_valid_rows=True,
        options={"source": way.source},
    )
    import_apply(job=import_preview(job=job))


def lines_of(posted: Posted) -> tuple[LineData, ...]:
    return tuple(
        LineData(sku=f"{category[:3].upper()}-{n}", category=category, amount=cents(amount))
        for n, (category, amount) in enumerate(posted.spec.lines)
    )


def import_file(way: Way, purchases: list[Posted]) -> str:
    """The purchases as staff would upload them: one row per line, the purchase's columns repeated."""
    rows = [IMPORT_HEADER]
    for posted in purchases:
        head = [
            posted.external_id,
            way.members[posted.spec.member].member_number,
            posted.purchased_at.astimezone(WARSAW).strftime("%Y-%m-%d %H:%M"),
            decimal_comma(posted.spec.amount),
            posted.spec.store,
        ]
        lines = lines_of(posted)
        if not lines:
            rows.append(";".join([*head, "", "", ""]))
        for line in lines:
            rows.append(";".join([*head, line.sku, line.category, decimal_comma(line.amount)]))
    return "\n".join(rows) + "\n"


def decimal_comma(value: Decimal) -> str:
    return f"{value:.2f}".replace(".", ",")


def job_run(name: str, *, member_ids: list[int]) -> None:
    if name == "release":
        points_release_pending()
    elif name == "expire":
        points_expire()
    else:
        tiers_recalculate_all(member_ids=member_ids)


def refund_apply(way: Way, target: Posted, refund_id: str, amount: Decimal) -> tuple:
    purchase = Purchase.objects.select_related("member").filter(source=way.source, external_id=target.external_id)
    purchase = purchase.first()
    if purchase is None:
        return ("refund", target.external_id, "purchase not recorded")
    try:
        _refund, entry = refund_post(purchase=purchase, external_id=refund_id, amount=amount)
    except (PointsError, MemberError) as exc:
        return ("refund", target.external_id, f"refused: {exc}")
    return ("refund", target.external_id, str(amount), entry.points if entry else None)


def redeem_apply(way: Way, action: Redeem, *, key: str) -> tuple:
    member = way.members[action.member % len(way.members)]
    balance = PointsAccount.objects.filter(member=member).values_list("balance", flat=True).first() or 0
    points = balance * action.percent // 100
    if points <= 0:
        return ("redeem", action.member, "nothing to redeem")
    try:
        points_redeem(member=member, points=points, reason="Nagroda", idempotency_key=f"{way.name}:{key}")
    except InsufficientPoints as exc:
        return ("redeem", action.member, points, f"refused: {exc}")
    return ("redeem", action.member, points)


# --- What is compared -----------------------------------------------------------------------------


def snapshot(member) -> dict:
    """Everything about a member's points that does not depend on ids, the purchase source or the way posted.

    References and idempotency keys are left out (they hold ids and the source); a lot names its entry by
    the entry's position in the member's ledger. Times are the simulated clock's, so they are compared."""
    account = PointsAccount.objects.select_related("tier").filter(member=member).first()
    entries = list(
        LedgerEntry.objects.filter(member=member)
        .order_by("id")
        .values_list(
            "id", "kind", "bucket", "points", "reason", "rules", "available_at", "created_at", "purchase__external_id"
        )
    )
    position = {entry[0]: n for n, entry in enumerate(entries)}
    return {
        "balance": account.balance if account else 0,
        "pending": account.pending if account else 0,
        "tier": account.tier.code if account and account.tier else None,
        "tier_since": account.tier_since if account else None,
        "tier_below_since": account.tier_below_since if account else None,
        "entries": [entry[1:] for entry in entries],
        "lots": [
            (position[entry_id], points, remaining, earned_at, expires_at)
            for entry_id, points, remaining, earned_at, expires_at in PointsLot.objects.filter(member=member)
            .order_by("id")
            .values_list("entry_id", "points", "remaining", "earned_at", "expires_at")
        ],
        "tier_changes": list(
            TierChange.objects.filter(member=member)
            .order_by("id")
            .values_list("from_tier__code", "to_tier__code", "reason", "changed_at")
        ),
        "purchases": list(
            Purchase.objects.filter(member=member)
            .order_by("purchased_at", "external_id")
            .values_list("external_id", "amount", "store", "purchased_at", "refunded_amount")
        ),
        "lines": sorted(
            PurchaseLine.objects.filter(purchase__member=member).values_list(
                "purchase__external_id", "sku", "product_name", "category", "quantity", "amount"
            )
        ),
    }


def ways_compared(ways: dict[str, Way]) -> dict[str, list]:
    """Each way's members' snapshots and its log, the first way's beside every other's where they differ."""
    seen = {name: ([snapshot(member) for member in way.members], way.log) for name, way in ways.items()}
    reference = seen[ONE_BY_ONE]
    differences = {}
    for name, (snapshots, log) in seen.items():
        for index, (mine, theirs) in enumerate(zip(reference[0], snapshots, strict=True)):
            for key in mine:
                if mine[key] != theirs[key]:
                    differences.setdefault(name, []).append((f"member {index}: {key}", mine[key], theirs[key]))
        if log != reference[1]:
            differences.setdefault(name, []).append(("log", reference[1], log))
    return differences
