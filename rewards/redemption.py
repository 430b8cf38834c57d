"""Redeeming a reward for points, and the life of its voucher: issued, then used, expired or cancelled once.

`reward_redeem` is the one way a member gets a reward (the portal, the member's admin page, the demo, the
bench): it checks eligibility with a refusal people understand, spends the points through the ledger (FIFO
against lots, with the ledger's own writer, announcing PointsRedeemed as `points_redeem` does), takes one
from the stock by a conditional UPDATE and issues a voucher with a random code. Cancelling (staff) and
expiring (the hourly task, for a reward with `return_unused`) give the points back with a `restore` entry
pointing at the debit, and the stock with it: exactly once, because a voucher leaves `issued` by a
conditional UPDATE and the ledger refuses a second restore of one debit (constraint `ledger_restore_once`).

Locks are always taken in the same order, the member's points account first (`account_lock`), then the
voucher or the reward row, so concurrent redemptions, cancellations and expiries never deadlock.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from loyalty_site.db import insert, insert_unless_exists
from loyalty_site.hooks import announce, has_receivers
from members.models import Member

from .events import PointsRedeemed, VoucherIssued
from .models import LedgerEntry, PointsLot, Redemption, Reward, Voucher, voucher_code_new
from .reasons import REDEEMED, RESTORED, Reason
from .services import accounts


class RedemptionRefused(accounts.PointsError):
    """A redemption or voucher operation the rules refuse; `code` for programs, the message for people."""

    def __init__(self, message: str, *, code: str):
        super().__init__(message)
        self.code = code


ISSUED = Voucher.Status.ISSUED


def _refuse(code: str, message: str):
    raise RedemptionRefused(message, code=code)


def reward_refusal(*, reward: Reward, member: Member, balance: int, tier_rank: int | None, count: int, now: datetime):
    """Why `member` cannot get `reward` now (code, message), or None. Pure: the caller supplies the figures."""
    if member.status != Member.Status.ACTIVE:
        return "member_inactive", gettext("Only an active member can redeem rewards.")
    partner = reward.partner
    if (
        not reward.is_active
        or (reward.available_from and reward.available_from > now)
        or (reward.available_until and reward.available_until < now)
        or (partner is not None and not _partner_active(partner, now))
    ):
        return "not_available", gettext("This reward is not available now.")
    if reward.stock is not None and reward.stock <= 0:
        return "sold_out", gettext("Sold out: none of this reward is left.")
    if reward.min_tier is not None and (tier_rank is None or tier_rank < reward.min_tier.rank):
        return "tier", gettext("This reward is for members in the %(tier)s tier or higher.") % {
            "tier": reward.min_tier.name
        }
    if reward.per_member_limit is not None and count >= reward.per_member_limit:
        return "limit", ngettext(
            "You have already got this reward the %(limit)d time allowed.",
            "You have already got this reward the %(limit)d times allowed.",
            reward.per_member_limit,
        ) % {"limit": reward.per_member_limit}
    if balance < reward.points_cost:
        return "points", ngettext(
            "You need %(cost)d points; your balance is %(balance)d point.",
            "You need %(cost)d points; your balance is %(balance)d points.",
            balance,
        ) % {"cost": reward.points_cost, "balance": balance}
    return None


def _partner_active(partner, now: datetime) -> bool:
    today = timezone.localdate(now)
    return (
        partner.is_active
        and (partner.active_from is None or partner.active_from <= today)
        and (partner.active_until is None or partner.active_until >= today)
    )


def member_redemption_count(*, member_id: int, reward_id: int) -> int:
    """Redemptions of the reward that count against its per-member limit: those not given back."""
    return Redemption.objects.filter(member_id=member_id, reward_id=reward_id, restore_entry__isnull=True).count()


@transaction.atomic
def reward_redeem(
    *,
    member: Member,
    reward: Reward,
    actor: AbstractBaseUser | None = None,
    idempotency_key: str | None = None,
    now: datetime | None = None,
) -> Redemption:
    """Spend the member's points on the reward and issue a voucher (`redemption.voucher`).

    Raises RedemptionRefused (with `.code`: member_inactive, not_available, sold_out, tier, limit, points) and
    leaves nothing written. With an `idempotency_key` (a form's token) a repeat returns the first redemption."""
    now = now or timezone.now()
    if idempotency_key is not None and len(idempotency_key) > 80:
        raise ValueError("idempotency_key is at most 80 characters")
    account = accounts.account_lock(member=member)
    if idempotency_key is not None:
        existing = Redemption.objects.select_related("voucher").filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            return existing
    key = idempotency_key or uuid.uuid4().hex
    member = Member.objects.only("pk", "status", "member_number").get(pk=member.pk)
    reward = Reward.objects.select_related("partner", "min_tier").get(pk=reward.pk)
    count = member_redemption_count(member_id=member.pk, reward_id=reward.pk) if reward.per_member_limit else 0
    tier_rank = account.tier.rank if account.tier is not None else None
    refusal = reward_refusal(
        reward=reward, member=member, balance=account.balance, tier_rank=tier_rank, count=count, now=now
    )
    if refusal is not None:
        _refuse(*refusal)
    points_expire_at = _consumed_lots_expiry(member_id=member.pk, points=reward.points_cost)
    # The debit through the ledger's own writer under the lock held above (FIFO against lots), announced as
    # points_redeem announces it; without points_redeem's savepoint, second lock and key look-up, which the
    # redemption's own key makes unnecessary (4 of the 16 queries a redemption took).
    debit = accounts._post(
        account=account,
        kind=LedgerEntry.Kind.REDEEM,
        points=-reward.points_cost,
        reason=Reason(REDEEMED, {"reward": reward.name}),
        idempotency_key=f"redeem:{key}",
        reference=f"reward:{reward.code}",
        actor=actor,
        at=now,
    )
    if has_receivers(PointsRedeemed):
        announce(
            [
                PointsRedeemed(
                    member_id=member.pk, entry_id=debit.pk, points=reward.points_cost, reference=debit.reference
                )
            ]
        )
    redemption = Redemption(
        member_id=member.pk,
        reward_id=reward.pk,
        partner_id=reward.partner_id,
        points=reward.points_cost,
        cash_value=reward.cash_value,
        settlement_value=reward.settlement_value,
        debit_entry=debit,
        points_expire_at=points_expire_at,
        actor=actor,
        idempotency_key=key,
        created_at=now,
    )
    insert(redemption)
    voucher = Voucher(
        redemption=redemption,
        member_id=member.pk,
        reward_id=reward.pk,
        issued_at=now,
        expires_at=now + timedelta(days=reward.voucher_valid_days),
    )
    while True:  # a clash of 59 random bits is astronomically rare, but never an error for the member
        voucher.code = voucher_code_new()
        if insert_unless_exists(voucher, conflict_fields=("code",)):
            break
    # Last of the writes: the reward's row stays locked from here to the commit, which a popular reward's
    # redemptions wait for in turn. When a concurrent redemption took the last one, this matches nothing and
    # everything above rolls back.
    if reward.stock is not None and not Reward.objects.filter(pk=reward.pk, stock__gt=0).update(stock=F("stock") - 1):
        _refuse("sold_out", gettext("Sold out: none of this reward is left."))
    if has_receivers(VoucherIssued):
        announce([VoucherIssued(member.pk, voucher.pk, redemption.pk, reward.pk, voucher.code, voucher.expires_at)])
    redemption.voucher = voucher
    voucher.reward = reward
    redemption.reward = reward
    return redemption


def _consumed_lots_expiry(*, member_id: int, points: int) -> datetime | None:
    """The latest expiry among the lots a spend of `points` takes (in rewards.services' FIFO order); None if one
    of them never expires. Points given back later keep this date, so a cancelled voucher never lengthens
    their life."""
    lots = PointsLot.objects.filter(member_id=member_id, remaining__gt=0).order_by(
        F("expires_at").asc(nulls_last=True), "earned_at", "id"
    )
    latest = None
    left = points
    # A plain fetch, not .iterator(): on PostgreSQL that opens a server-side cursor, two more round trips.
    for remaining, expires_at in lots.values_list("remaining", "expires_at")[:500]:
        if expires_at is None:
            return None
        latest = expires_at if latest is None else max(latest, expires_at)
        left -= remaining
        if left <= 0:
            break
    return latest


def _restore(*, voucher: Voucher, account, actor: AbstractBaseUser | None, now: datetime) -> LedgerEntry:
    """Give the points of the voucher's redemption back and return its stock. The caller holds the account's
    lock and has just moved the voucher out of `issued`, so this runs once per voucher."""
    redemption = Redemption.objects.select_related("debit_entry", "reward").get(pk=voucher.redemption_id)
    entry = accounts._post(
        account=account,
        kind=LedgerEntry.Kind.RESTORE,
        points=redemption.points,
        reason=Reason(RESTORED, {"reward": redemption.reward.name}),
        idempotency_key=f"restore:{redemption.debit_entry_id}",
        reference=f"redemption:{redemption.pk}",
        related_entry=redemption.debit_entry,
        actor=actor,
        at=now,
        expires_at=redemption.points_expire_at,
    )
    Redemption.objects.filter(pk=redemption.pk, restore_entry__isnull=True).update(restore_entry=entry)
    Reward.objects.filter(pk=voucher.reward_id, stock__isnull=False).update(stock=F("stock") + 1)
    return entry


def _status_refusal(voucher: Voucher) -> tuple[str, str]:
    messages = {
        Voucher.Status.USED: gettext("This voucher has already been used."),
        Voucher.Status.EXPIRED: gettext("This voucher has expired."),
        Voucher.Status.CANCELLED: gettext("This voucher has been cancelled."),
    }
    if voucher.status == ISSUED:
        return "expired", gettext("This voucher has expired.")
    return voucher.status, messages[voucher.status]


@transaction.atomic
def voucher_cancel(*, voucher: Voucher, actor: AbstractBaseUser | None) -> Voucher:
    """Staff cancel an unused voucher: the member gets the points back and the stock returns, once."""
    now = timezone.now()
    account = accounts.account_lock(member=Member(pk=voucher.member_id))
    changed = Voucher.objects.filter(pk=voucher.pk, status=ISSUED).update(
        status=Voucher.Status.CANCELLED, closed_at=now, closed_by=actor
    )
    voucher.refresh_from_db()
    if not changed:
        _refuse(*_status_refusal(voucher))
    _restore(voucher=voucher, account=account, actor=actor, now=now)
    return voucher


@transaction.atomic
def voucher_use(*, voucher: Voucher, actor: AbstractBaseUser | None, now: datetime | None = None) -> Voucher:
    """Mark the voucher used at the till, once: a second click, or a second till at the same moment, is refused."""
    now = now or timezone.now()
    changed = Voucher.objects.filter(pk=voucher.pk, status=ISSUED, expires_at__gt=now).update(
        status=Voucher.Status.USED, used_at=now, used_by=actor, closed_at=now
    )
    voucher.refresh_from_db()
    if not changed:
        _refuse(*_status_refusal(voucher))
    return voucher


def vouchers_expire(*, now: datetime | None = None, batch: int = 500) -> int:
    """Close every issued voucher past its date (the hourly task); for rewards with `return_unused`, give the
    points and the stock back. Safe to run twice or at the same time: each voucher moves once."""
    now = now or timezone.now()
    expired = 0
    last_id = 0
    while True:
        due = list(
            Voucher.objects.filter(status=ISSUED, expires_at__lte=now, pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", "member_id")[:batch]
        )
        if not due:
            return expired
        for voucher_id, member_id in due:
            expired += _voucher_expire(voucher_id=voucher_id, member_id=member_id, now=now)
        last_id = due[-1][0]


@transaction.atomic
def _voucher_expire(*, voucher_id: int, member_id: int, now: datetime) -> int:
    account = accounts.account_lock(member=Member(pk=member_id))
    if not Voucher.objects.filter(pk=voucher_id, status=ISSUED, expires_at__lte=now).update(
        status=Voucher.Status.EXPIRED, closed_at=now
    ):
        return 0  # used, cancelled or expired by someone else meanwhile
    voucher = Voucher.objects.select_related("reward").get(pk=voucher_id)
    if voucher.reward.return_unused:
        _restore(voucher=voucher, account=account, actor=None, now=now)
    return 1


# --- At the till --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Lookup:
    voucher: Voucher | None
    limited: bool


def lookups_per_minute() -> int:
    from django.conf import settings

    return getattr(settings, "VOUCHER_LOOKUPS_PER_MINUTE", 20)


def voucher_lookup(*, code: str, actor: AbstractBaseUser, now: datetime | None = None) -> Lookup:
    """Find a voucher by the code staff typed, logging every look-up; more than `lookups_per_minute()` by one
    staff member within a minute are refused (and logged), which makes guessing codes at the till pointless."""
    from .models import VoucherLookup, voucher_code_normalise

    now = now or timezone.now()
    entered = (code or "").strip()[:40]
    recent = VoucherLookup.objects.filter(actor=actor, looked_up_at__gt=now - timedelta(minutes=1)).count()
    if recent >= lookups_per_minute():
        VoucherLookup.objects.create(
            actor=actor, code_entered=entered, outcome=VoucherLookup.Outcome.LIMITED, looked_up_at=now
        )
        return Lookup(voucher=None, limited=True)
    voucher = (
        Voucher.objects.select_related("member", "reward", "redemption")
        .filter(code=voucher_code_normalise(entered))
        .first()
    )
    VoucherLookup.objects.create(
        actor=actor,
        code_entered=entered,
        voucher=voucher,
        outcome=VoucherLookup.Outcome.FOUND if voucher else VoucherLookup.Outcome.NOT_FOUND,
        looked_up_at=now,
    )
    return Lookup(voucher=voucher, limited=False)
