"""Points earned, redeemed, adjusted by staff and reversed, one entry at a time."""

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import formats, timezone
from django.utils.translation import gettext, ngettext

from loyalty_site.hooks import announce, has_receivers
from members.models import Member

from ..events import PointsRedeemed
from ..models import (
    LedgerEntry,
)
from ..planning import (
    expiry_for,
    member_refusal,
)
from ..reasons import Reason, as_reason
from .accounts import (
    PENDING,
    InsufficientPoints,
    PointsError,
    _consume_lots,
    _existing,
    _post,
    account_lock,
    program_settings,
)
from .release import _lot_for_credit, _pending_left, _pending_released


@transaction.atomic
def points_earn(
    *,
    member: Member,
    points: int,
    reason: Reason | str,
    idempotency_key: str,
    kind: str = LedgerEntry.Kind.EARN,
    reference: str = "",
    actor: AbstractBaseUser | None = None,
    hold_days: int = 0,
    at: datetime | None = None,
) -> LedgerEntry:
    """Credit points. With hold_days they wait in the pending bucket before they can be spent."""
    if points <= 0:
        raise PointsError(gettext("Earned points must be greater than zero."))
    account = account_lock(member=member)
    if existing := _existing(idempotency_key):
        return existing
    at = at or timezone.now()
    settings = program_settings()
    if hold_days:
        return _post(
            account=account,
            kind=kind,
            bucket=PENDING,
            points=points,
            reason=reason,
            idempotency_key=idempotency_key,
            reference=reference,
            actor=actor,
            at=at,
            available_at=at + timedelta(days=hold_days),
        )
    return _post(
        account=account,
        kind=kind,
        points=points,
        reason=reason,
        idempotency_key=idempotency_key,
        reference=reference,
        actor=actor,
        at=at,
        expires_at=expiry_for(at, settings),
    )


@transaction.atomic
def points_redeem(
    *,
    member: Member,
    points: int,
    reason: Reason | str,
    idempotency_key: str,
    reference: str = "",
    actor: AbstractBaseUser | None = None,
) -> LedgerEntry:
    """Spend points, oldest-expiring first. Refuses (InsufficientPoints) rather than go below zero."""
    if points <= 0:
        raise PointsError(gettext("Redeemed points must be greater than zero."))
    account = account_lock(member=member)
    if existing := _existing(idempotency_key):
        return existing
    if account.balance < points:
        raise InsufficientPoints(
            ngettext(
                "The balance is %(balance)d point; %(points)d are needed.",
                "The balance is %(balance)d points; %(points)d are needed.",
                account.balance,
            )
            % {"balance": account.balance, "points": points}
        )
    entry = _post(
        account=account,
        kind=LedgerEntry.Kind.REDEEM,
        points=-points,
        reason=reason,
        idempotency_key=idempotency_key,
        reference=reference,
        actor=actor,
    )
    if has_receivers(PointsRedeemed):
        announce([PointsRedeemed(member_id=account.member_id, entry_id=entry.pk, points=points, reference=reference)])
    return entry


# The most one adjustment may add or take away: the admin form, the adjustments import and points_adjust all
# ask `adjustment_problem`, so none of them lets through what another refuses.
MAX_ADJUSTMENT = 1_000_000


def adjustment_problem(points: int) -> str | None:
    """Why an adjustment of `points` is refused (zero, or more than MAX_ADJUSTMENT either way), or None."""
    if points == 0:
        return gettext("An adjustment of zero points changes nothing.")
    if abs(points) > MAX_ADJUSTMENT:
        return gettext("An adjustment adds or takes away at most %(limit)s points.") % {
            "limit": formats.number_format(MAX_ADJUSTMENT, force_grouping=True)
        }
    return None


@transaction.atomic
def points_adjust(
    *,
    member: Member,
    points: int,
    reason: str,
    actor: AbstractBaseUser | None,
    idempotency_key: str | None = None,
) -> LedgerEntry:
    """A staff correction, up or down, with a mandatory reason (a note as typed) and the staff member recorded."""
    reason = (reason or "").strip()
    if not reason:
        raise PointsError(gettext("An adjustment needs a reason."))
    if problem := adjustment_problem(points):
        raise PointsError(problem)
    if member.status in (Member.Status.MERGED, Member.Status.ERASED):
        raise PointsError(member_refusal(member.pk, member.status, member.member_number))
    account = account_lock(member=member)
    key = idempotency_key or f"adjust:{member.pk}:{timezone.now().timestamp()}:{actor.pk if actor else 0}"
    if existing := _existing(key):
        return existing
    if points < 0 and account.balance < -points:
        raise InsufficientPoints(
            ngettext(
                "The balance is %(balance)d point; cannot take away %(points)d.",
                "The balance is %(balance)d points; cannot take away %(points)d.",
                account.balance,
            )
            % {"balance": account.balance, "points": -points}
        )
    return _post(
        account=account,
        kind=LedgerEntry.Kind.ADJUST,
        points=points,
        reason=reason,
        idempotency_key=key,
        actor=actor,
        expires_at=expiry_for(timezone.now(), program_settings()),
    )


@transaction.atomic
def points_reverse(
    *,
    entry: LedgerEntry,
    reason: Reason | str,
    points: int | None = None,
    idempotency_key: str | None = None,
    actor: AbstractBaseUser | None = None,
    reference: str = "",
) -> LedgerEntry | None:
    """Reverse all or part of a credit. Points already spent cannot be taken back below zero: the
    reversal is limited to what the member still has, and the shortfall is written into the reason.
    Returns None when nothing is left to reverse."""
    account = account_lock(member=entry.member)
    key = idempotency_key or f"reverse:{entry.pk}"
    if existing := _existing(key):
        return existing
    if entry.points <= 0:
        raise PointsError(gettext("Only credits can be reversed."))
    wanted = entry.points if points is None else points
    if entry.bucket == PENDING and not _pending_released(entry):
        left = _pending_left(entry)
        amount = min(wanted, left, account.pending)
        if amount <= 0:
            return None
        return _post(
            account=account,
            kind=LedgerEntry.Kind.REVERSE,
            bucket=PENDING,
            points=-amount,
            reason=reason,
            idempotency_key=key,
            purchase=entry.purchase,
            reference=f"pending:{entry.pk}",
            # The release job finds what is left of a pending credit by the entries pointing at it.
            related_entry=entry,
            actor=actor,
        )
    amount = min(wanted, account.balance)
    if amount <= 0:
        return None
    if amount < wanted:
        reason = as_reason(reason).with_params(short=wanted - amount)
    source_lot = _lot_for_credit(entry)
    entry_out = _post(
        account=account,
        kind=LedgerEntry.Kind.REVERSE,
        points=-amount,
        reason=reason,
        idempotency_key=key,
        purchase=entry.purchase,
        reference=reference or f"entry:{entry.pk}",
        related_entry=entry,
        actor=actor,
        consume=False,
    )
    _consume_lots(member_id=account.member_id, points=amount, first_lot=source_lot)
    return entry_out
