"""Challenges: who is in a challenge's audience, progress counted from the posting hooks in sets (one upsert),
completion with its prize once, and progress counted again from what is recorded (recalculation, refunds)."""

from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from loyalty_site.db import any_of
from members.models import Member, Purchase, PurchaseLine
from rewards.events import PurchasePosted
from rewards.models import PointsAccount
from rewards.reasons import CHALLENGE, Reason
from rewards.services import member_profile_is_complete

from . import audiences
from .awarding import (
    BADGE_AWARD_COLUMNS,
    MEMBERS_PER_CHUNK,
    PointsAward,
    points_award_many,
)
from .config import engagement_config
from .models import (
    BadgeAward,
    Challenge,
    ChallengeCompletion,
    ChallengeProgress,
    Referral,
)
from .sql.progress import challenge_progress_write
from .sql.rows import rows_insert_new

PURCHASE_KINDS = (
    Challenge.Kind.PURCHASES,
    Challenge.Kind.SPEND,
    Challenge.Kind.CATEGORY,
    Challenge.Kind.NEW_STORE,
    Challenge.Kind.FIRST_PURCHASE,
)

# --- Audiences -------------------------------------------------------------------------------------------


def _audience_of(challenges: Sequence[Challenge], member_ids: Sequence[int]) -> dict[int, set[int] | None]:
    """For each challenge, which of these members are in its audience (None: all of them). One query for the
    tiers when a challenge is for a tier, one per registered-audience challenge."""
    result: dict[int, set[int] | None] = {}
    ranks: dict[int, int | None] | None = None
    for challenge in challenges:
        if challenge.audience == Challenge.Audience.EVERYONE:
            result[challenge.pk] = None
        elif challenge.audience == Challenge.Audience.TIER:
            if ranks is None:
                ranks = {
                    member_id: rank
                    for queryset in any_of(PointsAccount.objects.filter(tier__isnull=False), "member_id", member_ids)
                    for member_id, rank in queryset.values_list("member_id", "tier__rank")
                }
            floor = challenge.tier.rank
            result[challenge.pk] = {m for m, rank in ranks.items() if rank is not None and rank >= floor}
        else:
            queryset = audiences.members(challenge.audience_kind, challenge.audience_ref)
            result[challenge.pk] = (
                set() if queryset is None else set(queryset.filter(pk__in=member_ids).values_list("pk", flat=True))
            )
    return result


def member_in_audience(*, challenge: Challenge, member: Member) -> bool:
    return _audience_of([challenge], [member.pk])[challenge.pk] in (None, {member.pk})


# --- Challenge progress ----------------------------------------------------------------------------------


def _progress_add(deltas: dict[tuple[int, int], Decimal], *, at: datetime) -> list[tuple[int, int, Decimal]]:
    """Add to the progress rows (created when missing) in sets (rewards.engagement.sql.progress); returns
    (challenge id, member id, new value) of each."""
    return challenge_progress_write(deltas, at=at, add=True)


def _complete(challenges: dict[int, Challenge], rows: Iterable[tuple[int, int, Decimal]], *, at: datetime) -> int:
    """Complete the challenges whose progress reached the target and award their prizes, once: the ledger key
    and the unique completion row make a second completion of the same (challenge, member) write nothing."""
    reached = sorted(
        (challenge_id, member_id)
        for challenge_id, member_id, value in rows
        if challenge_id in challenges and value >= challenges[challenge_id].target
    )
    if not reached:
        return 0
    done = {
        pair
        for queryset in any_of(
            ChallengeCompletion.objects.filter(challenge_id__in={c for c, _m in reached}),
            "member_id",
            sorted({m for _c, m in reached}),
        )
        for pair in queryset.values_list("challenge_id", "member_id")
    }
    reached = [pair for pair in reached if pair not in done]
    if not reached:
        return 0
    awards = [
        PointsAward(
            member_id=member_id,
            points=challenges[challenge_id].points,
            reason=Reason(CHALLENGE, {"challenge": challenges[challenge_id].name}),
            reference=f"challenge:{challenges[challenge_id].code}",
            key=f"challenge:{challenge_id}:{member_id}",
            at=at,
        )
        for challenge_id, member_id in reached
    ]
    entries = points_award_many(awards=awards)
    rows_insert_new(
        ChallengeCompletion,
        {"challenge_id": "bigint", "member_id": "bigint", "completed_at": "timestamptz", "entry_id": "bigint"},
        [(c, m, at, entries.get(f"challenge:{c}:{m}")) for c, m in reached],
    )
    rows_insert_new(
        BadgeAward,
        BADGE_AWARD_COLUMNS,
        [(m, challenges[c].badge_id, at, c) for c, m in reached if challenges[c].badge_id],
    )
    return len(reached)


def _running(kinds: Sequence[str], first: datetime, last: datetime) -> list[Challenge]:
    """The active challenges of these kinds whose period meets [first, last], from the cached configuration
    (rewards.engagement.config): no query while nothing changed."""
    return [
        challenge
        for challenge in engagement_config().challenges
        if challenge.kind in kinds and challenge.starts_at <= last and challenge.ends_at > first
    ]


def challenges_progress_purchases(*, events: Sequence[PurchasePosted]) -> int:
    """Count newly posted purchases towards the running purchase challenges; completes those reaching their
    target. Queries: the challenges, then only what the running kinds need (tiers, a registered audience,
    earlier purchases for 'first purchase' and 'new store'), one upsert of the progress rows per 5,000, and
    the completions when some target is reached. Returns the completions."""
    if not events:
        return 0
    challenges = _running(PURCHASE_KINDS, min(e.purchased_at for e in events), max(e.purchased_at for e in events))
    if not challenges:
        return 0
    member_ids = sorted({event.member_id for event in events})
    audience = _audience_of(challenges, member_ids)
    kinds = {challenge.kind for challenge in challenges}
    # Whether a member bought before (anywhere, or at a store) than the purchases of this set: the recorded
    # purchases counted per member (and store) against the set's own, one grouped query each, without sending
    # the set's thousands of ids back.
    bought_before: set[int] = set()
    stores_known: set[tuple[int, str]] = set()
    if kinds & {Challenge.Kind.FIRST_PURCHASE, Challenge.Kind.NEW_STORE}:
        watched = sorted(
            {
                m
                for c in challenges
                if c.kind in (Challenge.Kind.FIRST_PURCHASE, Challenge.Kind.NEW_STORE)
                for m in (member_ids if audience[c.pk] is None else audience[c.pk])
            }
        )
        in_set = Counter((e.member_id, e.store) for e in events)
        recorded = any_of(Purchase.objects.order_by(), "member_id", watched)
        for queryset in recorded:
            for member_id, store, n in queryset.values_list("member_id", "store").annotate(n=Count("pk")):
                if n > in_set.get((member_id, store), 0):  # a purchase there that is not one of this set
                    stores_known.add((member_id, store))
                    bought_before.add(member_id)
    ordered = sorted(events, key=lambda e: (e.purchased_at, e.purchase_id))
    # Which events are a member's first purchase, and which their first at a store: one pass, in order, only
    # when a challenge counts them.
    first_purchases: set[int] = set()
    new_stores: set[int] = set()
    if kinds & {Challenge.Kind.FIRST_PURCHASE, Challenge.Kind.NEW_STORE}:
        for position, event in enumerate(ordered):
            if event.member_id not in bought_before:
                first_purchases.add(position)
                bought_before.add(event.member_id)
            if (event.member_id, event.store) not in stores_known:
                new_stores.add(position)
                stores_known.add((event.member_id, event.store))
    moments = [event.purchased_at for event in ordered]
    deltas: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for challenge in challenges:
        # The events in the challenge's period, found by bisection in the ordered set, then only the checks
        # this challenge has: each challenge looks at its own events, not every event at every challenge.
        first, last = bisect_left(moments, challenge.starts_at), bisect_left(moments, challenge.ends_at)
        members = audience[challenge.pk]
        kind = challenge.kind
        counted = {
            Challenge.Kind.NEW_STORE: new_stores,
            Challenge.Kind.FIRST_PURCHASE: first_purchases,
        }.get(kind)
        pk, store, category = challenge.pk, challenge.store, challenge.category
        for position in range(first, last):
            event = ordered[position]
            if (
                (members is not None and event.member_id not in members)
                or (store and event.store != store)
                or (category and category not in event.categories)
                or (counted is not None and position not in counted)
            ):
                continue
            deltas[pk, event.member_id] += event.amount if kind == Challenge.Kind.SPEND else 1
    if not deltas:
        return 0
    now = timezone.now()
    rows = _progress_add(deltas, at=now)
    return _complete({c.pk: c for c in challenges}, rows, at=now)


def progress_values(*, challenge: Challenge, member_ids: Sequence[int] | None = None) -> dict[int, Decimal]:
    """A challenge's progress counted from scratch from what is recorded (purchases less refunds, referrals,
    profiles), for these members (None: everyone), before the audience is applied. What recalculation and
    refunds write; the incremental path (`challenges_progress_purchases`) adds up to the same."""
    within = Q(purchased_at__gte=challenge.starts_at, purchased_at__lt=challenge.ends_at)
    purchases = Purchase.objects.filter(within)
    if member_ids is not None:
        purchases = purchases.filter(member_id__in=member_ids)
    if challenge.store:
        purchases = purchases.filter(store=challenge.store)
    if challenge.category:
        purchases = purchases.filter(
            Exists(PurchaseLine.objects.filter(purchase=OuterRef("pk"), category=challenge.category))
        )
    kept = purchases.filter(refunded_amount__lt=F("amount"))  # a purchase refunded in full no longer counts
    kind = challenge.kind
    if kind == Challenge.Kind.SPEND:
        rows = purchases.values("member_id").annotate(value=Sum(F("amount") - F("refunded_amount")))
    elif kind in (Challenge.Kind.PURCHASES, Challenge.Kind.CATEGORY):
        rows = kept.values("member_id").annotate(value=Count("pk"))
    elif kind == Challenge.Kind.NEW_STORE:
        earlier = Purchase.objects.filter(member_id=OuterRef("member_id"), store=OuterRef("store")).filter(
            Q(purchased_at__lt=OuterRef("purchased_at"))
            | Q(purchased_at=OuterRef("purchased_at"), pk__lt=OuterRef("pk"))
        )
        rows = kept.filter(~Exists(earlier)).values("member_id").annotate(value=Count("store", distinct=True))
    elif kind == Challenge.Kind.FIRST_PURCHASE:
        earlier = Purchase.objects.filter(member_id=OuterRef("member_id")).filter(
            Q(purchased_at__lt=OuterRef("purchased_at"))
            | Q(purchased_at=OuterRef("purchased_at"), pk__lt=OuterRef("pk"))
        )
        rows = kept.filter(~Exists(earlier)).values("member_id").annotate(value=Count("pk"))
    elif kind == Challenge.Kind.REFERRALS:
        referrals = Referral.objects.filter(
            status=Referral.Status.REWARDED, decided_at__gte=challenge.starts_at, decided_at__lt=challenge.ends_at
        )
        if member_ids is not None:
            referrals = referrals.filter(referrer_id__in=member_ids)
        rows = referrals.values(member_id=F("referrer_id")).annotate(value=Count("pk"))
    else:  # the profile
        members = Member.objects.filter(status=Member.Status.ACTIVE)
        if member_ids is not None:
            members = members.filter(pk__in=member_ids)
        members = members.exclude(email="").exclude(phone="").exclude(birth_date=None)
        return {
            member.pk: Decimal(1)
            for member in members.only("email", "phone", "birth_date", "city", "postal_code")
            if member_profile_is_complete(member)
        }
    return {row["member_id"]: Decimal(row["value"] or 0) for row in rows}


@transaction.atomic
def challenge_recalculate(*, challenge: Challenge, member_ids: Sequence[int] | None = None) -> int:
    """Count a challenge's progress again from what is recorded and write it (a challenge created after its
    start, a refund, staff's "recalculate"), completing those who reached the target. A completion already
    awarded stays. Returns the completions this made."""
    values = progress_values(challenge=challenge, member_ids=member_ids)
    stored = ChallengeProgress.objects.filter(challenge=challenge)
    if member_ids is not None:
        stored = stored.filter(member_id__in=member_ids)
    for member_id in stored.values_list("member_id", flat=True):
        values.setdefault(member_id, Decimal(0))
    audience = _audience_of([challenge], sorted(values))[challenge.pk]
    if audience is not None:
        values = {m: (v if m in audience else Decimal(0)) for m, v in values.items()}
    now = timezone.now()
    rows = challenge_progress_write({(challenge.pk, m): v for m, v in values.items()}, at=now, add=False)
    return _complete({challenge.pk: challenge}, rows, at=now)


def challenges_progress_refunds(*, purchase_ids: Sequence[int]) -> None:
    """After refunds: count again, from what is recorded, the progress of the purchase challenges whose period
    holds the refunded purchases, for their members. A prize already awarded is kept."""
    purchases = list(Purchase.objects.filter(pk__in=purchase_ids).values_list("member_id", "purchased_at"))
    if not purchases:
        return
    moments = [at for _m, at in purchases]
    for challenge in _running(PURCHASE_KINDS, min(moments), max(moments)):
        members = sorted({m for m, at in purchases if challenge.starts_at <= at < challenge.ends_at})
        if members:
            challenge_recalculate(challenge=challenge, member_ids=members)


def challenges_progress_profiles(*, member_ids: Sequence[int] | None = None, now: datetime | None = None) -> int:
    """The running 'complete the profile' challenges for these members (None: everyone, a chunk at a time)."""
    now = now or timezone.now()
    completed = 0
    for challenge in _running([Challenge.Kind.PROFILE], now, now):
        if member_ids is not None:
            completed += challenge_recalculate(challenge=challenge, member_ids=member_ids)
            continue
        after = 0
        while chunk := list(
            Member.objects.filter(pk__gt=after, status=Member.Status.ACTIVE)
            .order_by("pk")
            .values_list("pk", flat=True)[:MEMBERS_PER_CHUNK]
        ):
            after = chunk[-1]
            completed += challenge_recalculate(challenge=challenge, member_ids=chunk)
    return completed


def _challenges_progress_referrals(referrer_deltas: dict[int, int], *, at: datetime) -> None:
    challenges = _running([Challenge.Kind.REFERRALS], at, at)
    if not challenges:
        return
    member_ids = sorted(referrer_deltas)
    audience = _audience_of(challenges, member_ids)
    deltas = {
        (challenge.pk, member_id): Decimal(count)
        for challenge in challenges
        for member_id, count in referrer_deltas.items()
        if audience[challenge.pk] is None or member_id in audience[challenge.pk]
    }
    if deltas:
        _complete({c.pk: c for c in challenges}, _progress_add(deltas, at=at), at=at)
