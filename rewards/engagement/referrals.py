"""Referrals: who referred whom, and the points for both on the referee's first purchase at or above the
minimum, with the guards (same person, monthly cap, once per referee)."""

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from django.db.models import Count
from django.utils import timezone

from members.models import LoyaltyCard, Member
from rewards.events import PurchasePosted
from rewards.reasons import REFERRAL, Reason

from .awarding import PointsAward, points_award_many
from .challenges import _challenges_progress_referrals
from .config import engagement_config
from .models import (
    Referral,
)
from .sql.referrals import referred_members

# --- Referrals -------------------------------------------------------------------------------------------


def _card_key(number: str) -> str:
    """A card number as people mean it: the digits and letters, without spaces, dashes or leading zeros."""
    return "".join(ch for ch in number.upper() if ch.isalnum()).lstrip("0")


def _same_person(pairs: Sequence[tuple[int, int]]) -> set[int]:
    """The referees (of (referee, referrer) pairs) who share an email, a phone or a card with their referrer."""
    ids = {m for pair in pairs for m in pair}
    contacts = {
        pk: ((email or "").strip().lower(), (phone or "").strip())
        for pk, email, phone in Member.objects.filter(pk__in=ids).values_list("pk", "email", "phone")
    }
    cards: dict[int, set[str]] = defaultdict(set)
    for member_id, number in LoyaltyCard.objects.filter(member_id__in=ids).values_list("member_id", "number"):
        cards[member_id].add(_card_key(number))
    same = set()
    for referee, referrer in pairs:
        (email_a, phone_a), (email_b, phone_b) = contacts.get(referee, ("", "")), contacts.get(referrer, ("", ""))
        if (email_a and email_a == email_b) or (phone_a and phone_a == phone_b) or (cards[referee] & cards[referrer]):
            same.add(referee)
    return same


def referrals_open(*, pairs: Sequence[tuple[int, int]], at: datetime | None = None) -> None:
    """Record who referred whom ((referee, referrer) pairs) when they join: pending, or refused at once for the
    same person. A referee recorded before is left as they are."""
    pairs = [(referee, referrer) for referee, referrer in pairs if referrer and referee != referrer]
    if not pairs:
        return
    at = at or timezone.now()
    same = _same_person(pairs)
    Referral.objects.bulk_create(
        [
            Referral(
                referee_id=referee,
                referrer_id=referrer,
                status=Referral.Status.REFUSED if referee in same else Referral.Status.PENDING,
                refusal=Referral.Refusal.SELF if referee in same else "",
                decided_at=at if referee in same else None,
                created_at=at,
            )
            for referee, referrer in pairs
        ],
        ignore_conflicts=True,
    )


def referrals_qualify(*, events: Sequence[PurchasePosted]) -> int:
    """A referred member's first purchase of at least the minimum rewards both, once per referee: not for the
    same person (email, phone or card), nor over the referrer's monthly cap. Returns the referrals rewarded.
    One query when none of the purchasing members was referred, none when the events say so."""
    # One array parameter (`= ANY`), not an IN list of a batch part's thousands of members: adapting those
    # cost more than the query itself; and hand-written, as the single path runs it on every purchase.
    unknown = sorted({e.member_id for e in events if e.referred is not False})
    if not unknown:
        # The single post knows its member was not referred: nothing to look up on every till sale.
        return 0
    referred = {
        pk: (referrer, status)
        for pk, referrer, status in referred_members(unknown)
        if status in (None, Referral.Status.PENDING)
    }
    if not referred:
        return 0
    settings = engagement_config().settings
    qualifying: dict[int, PurchasePosted] = {}
    for event in sorted(events, key=lambda e: (e.purchased_at, e.purchase_id)):
        fresh = event.member_id in referred and event.member_id not in qualifying
        if fresh and event.amount >= settings.referral_min_purchase:
            qualifying[event.member_id] = event
    if not qualifying:
        return 0
    now = timezone.now()
    referrals_open(pairs=[(m, referred[m][0]) for m in qualifying if referred[m][1] is None], at=now)
    pending = {
        referral.referee_id: referral
        for referral in Referral.objects.filter(referee_id__in=qualifying, status=Referral.Status.PENDING)
    }
    if not pending:
        return 0
    same = _same_person([(r.referee_id, r.referrer_id) for r in pending.values()])
    month_start = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    counted = dict(
        Referral.objects.filter(
            referrer_id__in={r.referrer_id for r in pending.values()},
            status=Referral.Status.REWARDED,
            decided_at__gte=month_start,
        )
        .values("referrer_id")
        .annotate(n=Count("pk"))
        .values_list("referrer_id", "n")
    )
    awards, rewarded, refused = [], [], []
    reason = Reason(REFERRAL)
    for referee_id in sorted(pending):
        referral = pending[referee_id]
        referral.decided_at = now
        if referee_id in same:
            referral.status, referral.refusal = Referral.Status.REFUSED, Referral.Refusal.SELF
            refused.append(referral)
            continue
        if counted.get(referral.referrer_id, 0) >= settings.referral_monthly_cap:
            referral.status, referral.refusal = Referral.Status.REFUSED, Referral.Refusal.CAP
            refused.append(referral)
            continue
        counted[referral.referrer_id] = counted.get(referral.referrer_id, 0) + 1
        referral.status = Referral.Status.REWARDED
        referral.purchase_id = qualifying[referee_id].purchase_id
        rewarded.append(referral)
        for side, member_id, points in (
            ("referrer", referral.referrer_id, settings.referral_points_referrer),
            ("referee", referee_id, settings.referral_points_referee),
        ):
            awards.append(
                PointsAward(
                    member_id=member_id,
                    points=points,
                    reason=reason,
                    reference=f"referral:{referral.pk}",
                    key=f"referral:{referee_id}:{side}",
                    at=now,
                )
            )
    points_award_many(awards=awards)
    Referral.objects.bulk_update([*rewarded, *refused], ["status", "refusal", "purchase", "decided_at"])
    if rewarded:
        per_referrer: dict[int, int] = defaultdict(int)
        for referral in rewarded:
            per_referrer[referral.referrer_id] += 1
        _challenges_progress_referrals(per_referrer, at=now)
    return len(rewarded)
