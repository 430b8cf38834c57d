"""What the batch reads, keeps in memory and returns: its rows, refusals, results and per-chunk state."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

from members.services import LineData

from ..earning import RuleSet
from ..models import LedgerEntry, ProgramSettings, Tier
from ..planning import (
    PlanConfig,
)
from ..reasons import Reason

RETRIES = 3


ZERO = Decimal("0")


AVAILABLE = LedgerEntry.Bucket.AVAILABLE.value


PENDING = LedgerEntry.Bucket.PENDING.value


EARN = LedgerEntry.Kind.EARN.value


ACCOUNT_FIELDS = ("id", "member_id", "balance", "pending", "tier_id", "tier_since", "tier_below_since")


ENTRY_COLUMNS = (
    "id",
    "member_id",
    "kind",
    "bucket",
    "points",
    "reason",
    "reason_code",
    "reason_params",
    "purchase_id",
    "reference",
    "rules",
    "actor_id",
    "idempotency_key",
    "available_at",
    "created_at",
)


@dataclass(frozen=True)
class PurchaseRow:
    member_id: int
    source: str
    external_id: str
    amount: Decimal
    purchased_at: datetime
    store: str = "online"
    lines: tuple[LineData, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """A row that was not posted, and why, in words for the staff member who sent the file."""

    index: int  # position in the rows given, from 0
    source: str
    external_id: str
    reason: str
    about: str = "member"  # what is wrong: "member", "external_id" (recorded for another member) or "row"


@dataclass
class BatchResult:
    created: int = 0  # purchases recorded
    skipped: int = 0  # recorded before (an earlier run, or earlier in this batch): nothing posted again
    points: int = 0  # points credited, pending and available
    entries: int = 0  # ledger entries written
    refused: int = 0  # rows refused: unknown or inactive member, invalid amounts
    tier_changes: int = 0  # TierChange rows written
    refusals: list[Refusal] = field(default_factory=list)
    skips: list[int] = field(default_factory=list)  # positions (from 0) of the rows skipped

    def add(self, other: "BatchResult") -> None:
        self.created += other.created
        self.skipped += other.skipped
        self.points += other.points
        self.entries += other.entries
        self.refused += other.refused
        self.tier_changes += other.tier_changes
        self.refusals.extend(other.refusals)
        self.skips.extend(other.skips)


@dataclass
class _Context:
    """What every chunk needs and the batch loads once."""

    now: datetime
    settings: ProgramSettings
    ruleset: RuleSet
    tiers: list[Tier]  # empty: tiers are left as they are
    tiers_by_id: dict[int, Tier]
    window_start: datetime
    plan: PlanConfig
    reference: str = ""


@dataclass(slots=True)
class _Account:
    """A locked PointsAccount row as plain values: thousands are read per chunk."""

    id: int
    member_id: int
    balance: int
    pending: int
    tier_id: int | None
    tier_since: datetime | None
    tier_below_since: datetime | None
    changed: bool = False


@dataclass
class _TierState:
    """A member's tier as `tier_recalculate` leaves it after each purchase, and the figures behind it."""

    tier: Tier | None
    below_since: datetime | None
    spend: Decimal
    points: Decimal
    changed: bool = False
    tier_changed: bool = False
    settled: bool = False  # in the top tier and qualified for it: more purchases cannot move it
    history: list[tuple[Tier | None, Tier, Reason]] = field(default_factory=list)


class _Lot(NamedTuple):
    entry: int  # index into the chunk's entries
    member_id: int
    points: int
    earned_at: datetime
    expires_at: datetime | None


@dataclass
class _Writes:
    """What a chunk writes. On PostgreSQL the ids are drawn beforehand and entries are streamed as made."""

    purchase_ids: list[int] | None = None
    entry_ids: list[int] | None = None
    entries: list[tuple] = field(default_factory=list)  # rows in ENTRY_COLUMNS order, id filled in on write
    entry_purchase: list[int] = field(default_factory=list)  # index into the chunk's rows to post, per entry
    lots: list[_Lot] = field(default_factory=list)
    points: dict[int, list[int]] = field(default_factory=dict)  # member_id -> [available, pending] credited
