"""Pending points released when the return window ends, and lots expired."""

from datetime import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from members.models import Member

from ..models import (
    LedgerEntry,
    PointsLot,
)
from ..planning import (
    expiry_for,
)
from ..reasons import RELEASED, Reason, stored_reason
from .accounts import AVAILABLE, PENDING, _post, account_lock, program_settings


def _releases_of(entry: LedgerEntry):
    """The entry that moved a pending credit into the available bucket (none while it is pending)."""
    return LedgerEntry.objects.filter(related_entry=entry, kind=LedgerEntry.Kind.RELEASE, bucket=AVAILABLE)


def _lot_for_credit(entry: LedgerEntry) -> PointsLot | None:
    if entry.bucket == AVAILABLE:
        return PointsLot.objects.filter(entry=entry).first()
    return PointsLot.objects.filter(entry__in=_releases_of(entry)).first()


def _pending_released(entry: LedgerEntry) -> bool:
    return _releases_of(entry).exists()


def _pending_left(entry: LedgerEntry) -> int:
    """What is left of a pending credit: its points less the pending entries (reversals, release, merge
    transfer) that point at it."""
    moved = LedgerEntry.objects.filter(member_id=entry.member_id, bucket=PENDING, related_entry=entry).aggregate(
        s=Coalesce(Sum("points"), 0)
    )["s"]
    return entry.points + moved


def points_release_pending(*, now: datetime | None = None, batch_size: int = 500) -> int:
    """Move pending points whose return window has passed into the spendable balance. Safe to rerun."""
    now = now or timezone.now()
    settings = program_settings()
    # The ledger is append-only, so a released credit stays a pending credit: exclude it by its release.
    released_already = LedgerEntry.objects.filter(
        related_entry=OuterRef("pk"), bucket=PENDING, kind=LedgerEntry.Kind.RELEASE
    )
    due = list(
        LedgerEntry.objects.filter(bucket=PENDING, points__gt=0, available_at__lte=now)
        .exclude(Exists(released_already))
        .order_by("available_at", "id")
        .values_list("id", "member_id")[: batch_size * 20]
    )
    released = 0
    for entry_id, member_id in due:
        with transaction.atomic():
            account = account_lock(member=Member(pk=member_id))
            entry = LedgerEntry.objects.get(pk=entry_id)
            if _pending_released(entry):
                continue
            left = _pending_left(entry)
            if left <= 0:
                continue
            _post(
                account=account,
                kind=LedgerEntry.Kind.RELEASE,
                bucket=PENDING,
                points=-left,
                reason=Reason(RELEASED),
                idempotency_key=f"release:{entry.pk}:out",
                purchase=entry.purchase,
                reference=f"pending:{entry.pk}",
                related_entry=entry,
                at=now,
            )
            _post(
                account=account,
                kind=LedgerEntry.Kind.RELEASE,
                points=left,
                reason=stored_reason(entry),
                idempotency_key=f"release:{entry.pk}:in",
                purchase=entry.purchase,
                reference=f"pending:{entry.pk}",
                related_entry=entry,
                rules=entry.rules,
                at=now,
                expires_at=expiry_for(now, settings),
            )
            released += 1
    return released


def points_expire(*, now: datetime | None = None, dated_at_expiry: bool = False) -> int:
    """Expire lots whose time has come, one entry per lot. Running it twice expires nothing twice.

    Written in sets, a chunk of members at a time (rewards.expiry, which writes with the batch's helpers: they
    import this module, hence the import here)."""
    from ..expiry import points_expire as expire_in_sets

    return expire_in_sets(now=now, dated_at_expiry=dated_at_expiry)
