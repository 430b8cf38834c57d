"""Points the engagement app writes in sets: prizes and bonuses through the ledger's set writer (idempotent by
ledger key); the settings and the error type. Rows a unique constraint may already hold: rewards.engagement.sql.rows."""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from loyalty_site.db import any_of
from rewards.models import LedgerEntry, PointsAccount
from rewards.reasons import Reason
from rewards.services import expiry_for, program_settings
from rewards.sql.ledger import ENTRY_COLUMNS, balances_add, entries_write, lots_write

from .models import (
    EngagementSettings,
)

MEMBERS_PER_CHUNK = 5000


class EngagementError(ValueError):
    """A change the rules refuse; the message is meant for people."""


def engagement_settings() -> EngagementSettings:
    """The settings row, or the defaults while staff have saved none (reading never writes the row: a write
    would change the programme's config version and make every process reload its configuration)."""
    return EngagementSettings.objects.filter(pk=1).first() or EngagementSettings(pk=1)


# --- Points, in sets ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PointsAward:
    member_id: int
    points: int
    reason: Reason
    reference: str
    key: str  # the ledger's idempotency key
    at: datetime


def accounts_lock(member_ids: Iterable[int]) -> None:
    """Lock the members' points accounts in member order (creating those missing), as every writer of points
    does first; a batch that holds some of them already takes them again at no cost."""
    ids = sorted(set(member_ids))
    if not ids:
        return
    locked = PointsAccount.objects.select_for_update().order_by("member_id")
    found = {m for queryset in any_of(locked, "member_id", ids) for m in queryset.values_list("member_id", flat=True)}
    missing = [member_id for member_id in ids if member_id not in found]
    if missing:
        PointsAccount.objects.bulk_create([PointsAccount(member_id=m) for m in missing], ignore_conflicts=True)
        for queryset in any_of(locked, "member_id", missing):
            list(queryset.values_list("member_id", flat=True))


@transaction.atomic
def points_award_many(*, awards: Sequence[PointsAward]) -> dict[str, int]:
    """Bonus entries (with their lots) for the awards whose key the ledger does not have yet; returns the
    written entries' ids by key. Awarding the same key again writes nothing."""
    awards = [award for award in awards if award.points > 0]
    if not awards:
        return {}
    accounts_lock(award.member_id for award in awards)
    recorded = {
        key
        for queryset in any_of(LedgerEntry.objects.all(), "idempotency_key", sorted({a.key for a in awards}))
        for key in queryset.values_list("idempotency_key", flat=True)
    }
    settings = program_settings()
    fresh, seen = [], set()
    for award in awards:
        if award.key in recorded or award.key in seen:
            continue
        seen.add(award.key)
        fresh.append(award)
    if not fresh:
        return {}
    columns = ENTRY_COLUMNS[1:]
    entries = []
    for award in fresh:
        values = {
            "member_id": award.member_id,
            "kind": LedgerEntry.Kind.BONUS.value,
            "bucket": LedgerEntry.Bucket.AVAILABLE.value,
            "points": award.points,
            "reason": "",
            "reason_code": award.reason.code,
            "reason_params": award.reason.params,
            "purchase_id": None,
            "reference": award.reference[:100],
            "rules": [],
            "actor_id": None,
            "idempotency_key": award.key,
            "available_at": None,
            "created_at": award.at,
        }
        entries.append(tuple(values[column] for column in columns))
    ids = entries_write(entries, ids=True)
    expiries: dict[datetime, datetime | None] = {}  # the awards of a set share their moment: one date sum each
    for award in fresh:
        if award.at not in expiries:
            expiries[award.at] = expiry_for(award.at, settings)
    lots_write(
        [
            (award.member_id, entry_id, award.points, award.points, award.at, expiries[award.at])
            for award, entry_id in zip(fresh, ids, strict=True)
        ]
    )
    raised: dict[int, int] = defaultdict(int)
    for award in fresh:
        raised[award.member_id] += award.points
    balances_add(raised)
    return {award.key: entry_id for award, entry_id in zip(fresh, ids, strict=True)}


BADGE_AWARD_COLUMNS = {
    "member_id": "bigint",
    "badge_id": "bigint",
    "awarded_at": "timestamptz",
    "challenge_id": "bigint",
}
