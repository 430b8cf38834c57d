"""Two member records of one person merged: points, lots and tier move to the survivor."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from members.models import Member
from members.services import MemberError, member_merge_profile

from ..models import (
    LedgerEntry,
    PointsLot,
)
from ..reasons import MERGED_FROM, MERGED_INTO, Reason
from .accounts import PENDING, PointsError, _post, account_lock
from .release import _pending_left, _pending_released
from .tiers import tier_recalculate

# --- Member merge --------------------------------------------------------------------------------


@transaction.atomic
def members_merge(*, survivor: Member, duplicate: Member, actor: AbstractBaseUser | None) -> Member:
    """Merge a duplicate into the survivor: history moves, points transfer through the ledger, nothing is
    counted twice. Lots keep their expiry dates."""
    first, second = sorted([survivor, duplicate], key=lambda m: m.pk)
    locked = {m.pk: account_lock(member=m) for m in (first, second)}
    survivor = Member.objects.get(pk=survivor.pk)
    duplicate = Member.objects.get(pk=duplicate.pk)
    try:
        member_merge_profile(survivor=survivor, duplicate=duplicate, actor=actor)
    except MemberError as exc:
        raise PointsError(str(exc)) from exc
    source, target = locked[duplicate.pk], locked[survivor.pk]
    key = f"merge:{duplicate.pk}:{survivor.pk}"
    reason_out = Reason(MERGED_INTO, {"number": survivor.member_number})
    reason_in = Reason(MERGED_FROM, {"number": duplicate.member_number})
    if source.balance:
        lots = list(PointsLot.objects.filter(member_id=duplicate.pk, remaining__gt=0))
        _post(
            account=source,
            kind=LedgerEntry.Kind.TRANSFER,
            points=-source.balance,
            reason=reason_out,
            idempotency_key=f"{key}:out",
            actor=actor,
            consume=False,
        )
        for lot in lots:
            moved = lot.remaining
            PointsLot.objects.filter(pk=lot.pk).update(remaining=0)
            _post(
                account=target,
                kind=LedgerEntry.Kind.TRANSFER,
                points=moved,
                reason=reason_in,
                idempotency_key=f"{key}:lot:{lot.pk}",
                actor=actor,
                at=lot.earned_at,
                expires_at=lot.expires_at,
            )
    if source.pending:
        pending_credits = LedgerEntry.objects.filter(member_id=duplicate.pk, bucket=PENDING, points__gt=0)
        for credit in pending_credits:
            if _pending_released(credit) or (left := _pending_left(credit)) <= 0:
                continue
            _post(
                account=source,
                kind=LedgerEntry.Kind.TRANSFER,
                bucket=PENDING,
                points=-left,
                reason=reason_out,
                idempotency_key=f"{key}:pending:{credit.pk}:out",
                actor=actor,
                reference=f"pending:{credit.pk}",
                related_entry=credit,
            )
            _post(
                account=target,
                kind=LedgerEntry.Kind.TRANSFER,
                bucket=PENDING,
                points=left,
                reason=reason_in,
                idempotency_key=f"{key}:pending:{credit.pk}:in",
                actor=actor,
                purchase=credit.purchase,
                available_at=credit.available_at,
                rules=credit.rules,
            )
    tier_recalculate(member=survivor, account=target)
    return survivor
