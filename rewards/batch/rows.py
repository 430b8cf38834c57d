"""What the batch reads, keeps in memory and returns: its rows, refusals, results and per-chunk state."""

from collections.abc import Callable
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
from ..sql.accounts import ACCOUNT_FIELDS as ACCOUNT_FIELDS  # re-exported
from ..sql.accounts import AccountRow
from ..sql.ledger import ENTRY_COLUMNS as ENTRY_COLUMNS  # re-exported

RETRIES = 3


ZERO = Decimal("0")


AVAILABLE = LedgerEntry.Bucket.AVAILABLE.value


PENDING = LedgerEntry.Bucket.PENDING.value


EARN = LedgerEntry.Kind.EARN.value


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
    part_started: Callable[[list[PurchaseRow]], None] | None = None  # see purchases_post_batch


_Account = AccountRow  # a locked account as plain values (rewards.sql.accounts)


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
