"""Points accounts and the one writer of the ledger: every change of points goes through `_post`, under the
account's row lock."""

from collections.abc import Sequence
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from loyalty_site.db import insert
from members.models import Member, Purchase

from ..models import (
    LedgerEntry,
    PointsAccount,
    PointsLot,
    ProgramSettings,
    Tier,
)
from ..reasons import Reason, as_reason
from ..sql.accounts import account_points_add, account_row_lock
from ..sql.ledger import ONE_ENTRY_COLUMNS, entry_post

AVAILABLE = LedgerEntry.Bucket.AVAILABLE


PENDING = LedgerEntry.Bucket.PENDING


class PointsError(ValueError):
    """A points operation the rules refuse; the message is meant for people."""


class InsufficientPoints(PointsError):
    pass


def program_settings() -> ProgramSettings:
    return ProgramSettings.objects.get_or_create(pk=1)[0]


def account_lock(*, member: Member, tiers: Sequence[Tier] | None = None) -> PointsAccount:
    """The member's account, locked for this transaction. Every writer of points takes this lock first.

    A caller holding the programme's tiers (`programme_config()`) passes them, and the account's tier is
    taken from them instead of joined in."""
    locked = PointsAccount.objects.select_for_update(of=("self",))
    if tiers is None:
        locked = locked.select_related("tier")
        account = locked.filter(member=member).first()
    else:
        # The hot path of every purchase posted: a hand-written query costs a third of the ORM's.
        account = account_row_lock(member.pk)
    if account is None:
        try:
            with transaction.atomic():
                PointsAccount.objects.create(member=member)
        except IntegrityError:
            pass  # created concurrently; lock it below
        account = locked.get(member=member)
    if tiers is not None and account.tier_id is not None:
        account.tier = next((tier for tier in tiers if tier.pk == account.tier_id), None) or account.tier
    return account


def _existing(key: str) -> LedgerEntry | None:
    return LedgerEntry.objects.filter(idempotency_key=key).first()


def _post(
    *,
    account: PointsAccount,
    kind: str,
    points: int,
    reason: Reason | str,
    idempotency_key: str,
    bucket: str = AVAILABLE,
    purchase: Purchase | None = None,
    reference: str = "",
    related_entry: LedgerEntry | None = None,
    rules: list | None = None,
    actor: AbstractBaseUser | None = None,
    at: datetime | None = None,
    available_at: datetime | None = None,
    expires_at: datetime | None = None,
    consume: bool = True,
) -> LedgerEntry:
    """Append one entry and move the account and lots with it. The caller holds the account lock."""
    if not isinstance(points, int) or points == 0:
        raise PointsError(gettext("Points must be a whole number other than zero."))
    at = at or timezone.now()
    text, code, params = as_reason(reason).columns()
    rules = rules or []
    # What the database will refuse (a negative balance or pending sum), said in words first.
    if bucket == PENDING and account.pending + points < 0:
        raise InsufficientPoints(gettext("Not enough pending points."))
    if bucket != PENDING and account.balance + points < 0:
        raise InsufficientPoints(
            ngettext(
                "The balance is %(balance)d point; %(points)d were asked for.",
                "The balance is %(balance)d points; %(points)d were asked for.",
                account.balance,
            )
            % {"balance": account.balance, "points": -points}
        )
    entry = LedgerEntry(
        member_id=account.member_id,
        kind=kind,
        bucket=bucket,
        points=points,
        reason=text,
        reason_code=code,
        reason_params=params,
        purchase=purchase,
        reference=reference,
        related_entry=related_entry,
        rules=rules,
        actor=actor,
        idempotency_key=idempotency_key,
        available_at=available_at,
        created_at=at,
    )
    column = "pending" if bucket == PENDING else "balance"
    with_lot = bucket != PENDING and points > 0
    if connection.vendor == "postgresql":
        # The entry, the account's points and the lot in one statement: a till's purchase waits for each
        # round trip to the database.
        entry.pk = entry_post(
            tuple(getattr(entry, name) for name in ONE_ENTRY_COLUMNS),
            account_id=account.pk,
            column=column,
            lot=(points, at, expires_at) if with_lot else None,
        )
        entry._state.adding, entry._state.db = False, DEFAULT_DB_ALIAS
    else:
        # insert() and _add_points(): the rows, without the ORM's save machinery. No signals are connected.
        insert(entry)
        _add_points(account, column, points)
        if with_lot:
            insert(
                PointsLot(
                    member_id=account.member_id,
                    entry=entry,
                    points=points,
                    remaining=points,
                    earned_at=at,
                    expires_at=expires_at,
                )
            )
    if bucket == PENDING:
        account.pending += points
        return entry
    account.balance += points
    if points < 0 and consume:
        _consume_lots(member_id=account.member_id, points=-points)
    return entry


def _add_points(account: PointsAccount, column: str, points: int) -> None:
    """Add to the stored balance or pending points; the database refuses a negative result."""
    account_points_add(account_id=account.pk, column=column, points=points)


def _consume_lots(*, member_id: int, points: int, first_lot: PointsLot | None = None) -> None:
    """Take points from the oldest-expiring lots first (FIFO), optionally starting with one lot."""
    lots = list(
        PointsLot.objects.filter(member_id=member_id, remaining__gt=0).order_by(
            F("expires_at").asc(nulls_last=True), "earned_at", "id"
        )
    )
    if first_lot is not None:
        lots.sort(key=lambda lot: lot.pk != first_lot.pk)
    left = points
    changed = []
    for lot in lots:
        if left == 0:
            break
        take = min(lot.remaining, left)
        lot.remaining -= take
        left -= take
        changed.append(lot)
    if left:
        raise InsufficientPoints(gettext("The points lots do not cover this spend."))
    PointsLot.objects.bulk_update(changed, ["remaining"])
