"""Writes of the engagement app: challenge progress and completions, badges, referrals, birthday bonuses.

Everything here works in sets, because the posting paths announce in sets (a batch part announces thousands of
purchases at once): a handful of queries per call, however many events and challenges.

Idempotency, which is what makes "processed twice, awarded once" hold:
- a completion is a row unique per (challenge, member) and its points a ledger entry keyed
  `challenge:<challenge id>:<member id>`;
- a badge is a row unique per (member, badge);
- a referral is a row unique per referee, its points keyed `referral:<referee id>:referrer|referee`;
- a birthday bonus is keyed `birthday:<member id>:<year>`.
Points are written under the members' account locks (taken in member order, as every writer of points takes
them), with a lot each, so the stored balances stay equal to the ledger.
"""

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from loyalty_site.db import any_of
from members.models import LoyaltyCard, Member, Purchase, PurchaseLine
from rewards.batch import ENTRY_COLUMNS
from rewards.events import PurchasePosted
from rewards.expiry import balances_add, entries_write, lots_write
from rewards.models import LedgerEntry, PointsAccount, Tier
from rewards.reasons import BIRTHDAY, CHALLENGE, REFERRAL, Reason
from rewards.services import add_months, expiry_for, member_profile_is_complete, program_settings

from . import audiences
from .config import engagement_config
from .models import (
    Badge,
    BadgeAward,
    Challenge,
    ChallengeCompletion,
    ChallengeProgress,
    EngagementSettings,
    LeaderboardProfile,
    Referral,
)

PURCHASE_KINDS = (
    Challenge.Kind.PURCHASES,
    Challenge.Kind.SPEND,
    Challenge.Kind.CATEGORY,
    Challenge.Kind.NEW_STORE,
    Challenge.Kind.FIRST_PURCHASE,
)
MEMBERS_PER_CHUNK = 5000
ROWS_PER_STATEMENT = 5000  # four parameters a row: within SQLite's and PostgreSQL's limits


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
    found = set(locked.filter(member_id__in=ids).values_list("member_id", flat=True))
    missing = [member_id for member_id in ids if member_id not in found]
    if missing:
        PointsAccount.objects.bulk_create([PointsAccount(member_id=m) for m in missing], ignore_conflicts=True)
        list(locked.filter(member_id__in=missing).values_list("member_id", flat=True))


@transaction.atomic
def points_award_many(*, awards: Sequence[PointsAward]) -> dict[str, int]:
    """Bonus entries (with their lots) for the awards whose key the ledger does not have yet; returns the
    written entries' ids by key. Awarding the same key again writes nothing."""
    awards = [award for award in awards if award.points > 0]
    if not awards:
        return {}
    accounts_lock(award.member_id for award in awards)
    recorded = set(
        LedgerEntry.objects.filter(idempotency_key__in={a.key for a in awards}).values_list(
            "idempotency_key", flat=True
        )
    )
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
    lots_write(
        [
            (award.member_id, entry_id, award.points, award.points, award.at, expiry_for(award.at, settings))
            for award, entry_id in zip(fresh, ids, strict=True)
        ]
    )
    raised: dict[int, int] = defaultdict(int)
    for award in fresh:
        raised[award.member_id] += award.points
    balances_add(raised)
    return {award.key: entry_id for award, entry_id in zip(fresh, ids, strict=True)}


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
    """Add to the progress rows (created when missing) in one statement per ROWS_PER_STATEMENT; returns
    (challenge id, member id, new value) of each."""
    return _progress_write(deltas, at=at, add=True)


def _progress_write(
    values: dict[tuple[int, int], Decimal], *, at: datetime, add: bool
) -> list[tuple[int, int, Decimal]]:
    table = connection.ops.quote_name(ChallengeProgress._meta.db_table)
    rows = sorted((c, m, v) for (c, m), v in values.items() if v or not add)
    new_value = f"{table}.value + EXCLUDED.value" if add else "EXCLUDED.value"
    written = []
    conflict = (
        f"ON CONFLICT (challenge_id, member_id) DO UPDATE SET value = {new_value}, "
        "updated_at = EXCLUDED.updated_at RETURNING challenge_id, member_id, value"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and rows:
            # Three arrays and a moment: four parameters however many rows, parsed once.
            cursor.execute(
                f"INSERT INTO {table} (challenge_id, member_id, value, updated_at) "  # noqa: S608 - the model's table
                f"SELECT c, m, v, %s FROM unnest(%s::bigint[], %s::bigint[], %s::numeric[]) AS t(c, m, v) {conflict}",
                [at, [c for c, _m, _v in rows], [m for _c, m, _v in rows], [Decimal(v) for _c, _m, v in rows]],
            )
            return [(c, m, Decimal(v)) for c, m, v in cursor.fetchall()]
        for first in range(0, len(rows), ROWS_PER_STATEMENT):
            part = rows[first : first + ROWS_PER_STATEMENT]
            cursor.execute(
                f"INSERT INTO {table} (challenge_id, member_id, value, updated_at) "  # noqa: S608 - the model's table
                f"VALUES {', '.join(['(%s, %s, %s, %s)'] * len(part))} {conflict}",
                [value for c, m, v in part for value in (c, m, Decimal(v), at)],
            )
            written.extend((c, m, Decimal(str(v))) for c, m, v in cursor.fetchall())
    return written


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
    done = set(
        ChallengeCompletion.objects.filter(
            challenge_id__in={c for c, _m in reached}, member_id__in={m for _c, m in reached}
        ).values_list("challenge_id", "member_id")
    )
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
    _insert_new(
        ChallengeCompletion,
        {"challenge_id": "bigint", "member_id": "bigint", "completed_at": "timestamptz", "entry_id": "bigint"},
        [(c, m, at, entries.get(f"challenge:{c}:{m}")) for c, m in reached],
    )
    _insert_new(
        BadgeAward,
        BADGE_AWARD_COLUMNS,
        [(m, challenges[c].badge_id, at, c) for c, m in reached if challenges[c].badge_id],
    )
    return len(reached)


BADGE_AWARD_COLUMNS = {
    "member_id": "bigint",
    "badge_id": "bigint",
    "awarded_at": "timestamptz",
    "challenge_id": "bigint",
}


def _insert_new(model, columns: dict[str, str], rows: list[tuple]) -> None:
    """Insert rows, leaving out those a unique constraint already holds: one statement on PostgreSQL (arrays,
    a parameter per column however many rows), bulk_create elsewhere."""
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            [model(**dict(zip(columns, row, strict=True))) for row in rows], ignore_conflicts=True
        )
        return
    quote = connection.ops.quote_name
    names = ", ".join(quote(name) for name in columns)
    arrays = ", ".join(f"%s::{kind}[]" for kind in columns.values())
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} ({names}) SELECT * FROM unnest({arrays}) "  # noqa: S608
            "ON CONFLICT DO NOTHING",
            [[row[n] for row in rows] for n in range(len(columns))],
        )


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
        recorded = (
            Purchase.objects.filter(member_id__in=watched).values_list("member_id", "store").annotate(n=Count("pk"))
        )
        for member_id, store, n in recorded.order_by():
            if n > in_set.get((member_id, store), 0):  # a purchase there that is not one of this set
                stores_known.add((member_id, store))
                bought_before.add(member_id)
    deltas: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    for event in sorted(events, key=lambda e: (e.purchased_at, e.purchase_id)):
        first_purchase = event.member_id not in bought_before
        bought_before.add(event.member_id)
        new_store = (event.member_id, event.store) not in stores_known
        stores_known.add((event.member_id, event.store))
        for challenge in challenges:
            if not (challenge.starts_at <= event.purchased_at < challenge.ends_at):
                continue
            members = audience[challenge.pk]
            if members is not None and event.member_id not in members:
                continue
            if (challenge.store and event.store != challenge.store) or (
                challenge.category and challenge.category not in event.categories
            ):
                continue
            kind = challenge.kind
            if kind == Challenge.Kind.SPEND:
                deltas[challenge.pk, event.member_id] += event.amount
            elif (
                kind in (Challenge.Kind.PURCHASES, Challenge.Kind.CATEGORY)
                or (kind == Challenge.Kind.NEW_STORE and new_store)
                or (kind == Challenge.Kind.FIRST_PURCHASE and first_purchase)
            ):
                deltas[challenge.pk, event.member_id] += 1
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
    rows = _progress_write({(challenge.pk, m): v for m, v in values.items()}, at=now, add=False)
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


# --- Badges ----------------------------------------------------------------------------------------------


def badges_award(*, awards: Iterable[tuple[int, int]], at: datetime | None = None) -> None:
    """(member id, badge id) pairs; a badge a member has already is left as it is."""
    at = at or timezone.now()
    _insert_new(BadgeAward, BADGE_AWARD_COLUMNS, [(member_id, badge_id, at, None) for member_id, badge_id in awards])


def badges_first_purchase(*, member_ids: Sequence[int], at: datetime | None = None) -> None:
    badges = engagement_config().first_purchase_badges
    if badges:
        badges_award(awards=[(m, b) for m in member_ids for b in badges], at=at)


def badges_tier_reached(*, moves: Sequence[tuple[int, int | None]], at: datetime | None = None) -> None:
    """(member id, the tier they moved to) pairs: the 'tier reached' badges of that tier or a lower one."""
    badges = engagement_config().tier_badges
    if not badges or not moves:
        return
    ranks = dict(Tier.objects.filter(pk__in={t for _m, t in moves if t}).values_list("pk", "rank"))
    badges_award(
        awards=[
            (member_id, badge_id)
            for member_id, tier_id in moves
            if tier_id in ranks
            for badge_id, rank in badges
            if ranks[tier_id] >= rank
        ],
        at=at,
    )


def badges_one_year(*, now: datetime | None = None) -> int:
    """The 'one year in the programme' badges for every active member who joined a year ago or earlier and
    has not got them; safe to run any number of times."""
    now = now or timezone.now()
    given = 0
    for badge in Badge.objects.filter(is_active=True, milestone=Badge.Milestone.ONE_YEAR):
        after = 0
        while chunk := list(
            Member.objects.filter(pk__gt=after, status=Member.Status.ACTIVE, joined_at__lte=add_months(now, -12))
            .exclude(Exists(BadgeAward.objects.filter(member=OuterRef("pk"), badge=badge)))
            .order_by("pk")
            .values_list("pk", flat=True)[:MEMBERS_PER_CHUNK]
        ):
            after = chunk[-1]
            badges_award(awards=[(m, badge.pk) for m in chunk], at=now)
            given += len(chunk)
    return given


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
    One query when none of the purchasing members was referred."""
    # One array parameter (`= ANY`), not an IN list of a batch part's thousands of members: adapting those
    # cost more than the query itself.
    referred = {
        pk: (referrer, status)
        for queryset in any_of(
            Member.objects.filter(referred_by__isnull=False), "pk", sorted({e.member_id for e in events})
        )
        for pk, referrer, status in queryset.values_list("pk", "referred_by_id", "referral__status")
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


# --- Birthdays -------------------------------------------------------------------------------------------


def birthday_days(today: date) -> list[tuple[int, int]]:
    """The (month, day) birthdays celebrated today: 29 February is celebrated on 28 February in other years."""
    days = [(today.month, today.day)]
    leap = today.year % 4 == 0 and (today.year % 100 != 0 or today.year % 400 == 0)
    if (today.month, today.day) == (2, 28) and not leap:
        days.append((2, 29))
    return days


def birthday_bonuses_award(*, today: date | None = None, members_per_chunk: int = MEMBERS_PER_CHUNK) -> int:
    """The birthday bonus for every active member whose birthday is today, once a year (the ledger key
    `birthday:<member>:<year>`): running it twice on a day, or on the 28th and again for a 29 February
    birthday, awards nothing twice. Each chunk of members is one transaction. Returns the bonuses written."""
    today = today or timezone.localdate()
    points = engagement_settings().birthday_points
    if not points:
        return 0
    born = Q()
    for month, day in birthday_days(today):
        born |= Q(birth_date__month=month, birth_date__day=day)
    now = timezone.now()
    reason = Reason(BIRTHDAY)
    written = 0
    after = 0
    while chunk := list(
        Member.objects.filter(born, status=Member.Status.ACTIVE, pk__gt=after)
        .order_by("pk")
        .values_list("pk", flat=True)[:members_per_chunk]
    ):
        after = chunk[-1]
        written += len(
            points_award_many(
                awards=[
                    PointsAward(
                        member_id=member_id,
                        points=points,
                        reason=reason,
                        reference=f"birthday:{today.year}",
                        key=f"birthday:{member_id}:{today.year}",
                        at=now,
                    )
                    for member_id in chunk
                ]
            )
        )
    return written


# --- The leaderboard -------------------------------------------------------------------------------------


@transaction.atomic
def leaderboard_profile_set(*, member: Member, display_name: str, opted_in: bool) -> LeaderboardProfile:
    """Choose the name shown on leaderboards and whether to be shown. Names are unique regardless of case."""
    name = " ".join(display_name.split())
    if opted_in and not name:
        raise EngagementError("empty")
    exists = (
        LeaderboardProfile.objects.filter(display_name__iexact=name).exclude(member=member).exists() if name else False
    )
    if exists:
        raise EngagementError("taken")
    try:
        with transaction.atomic():
            profile, _created = LeaderboardProfile.objects.update_or_create(
                member=member, defaults={"display_name": name or f"#{member.pk}", "opted_in": opted_in}
            )
    except IntegrityError as exc:  # the same name chosen at the same moment by someone else
        raise EngagementError("taken") from exc
    return profile


def month_bounds(moment: datetime) -> tuple[datetime, datetime]:
    start = timezone.localtime(moment).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, add_months(start, 1)


__all__ = [
    "EngagementError",
    "PointsAward",
    "badges_one_year",
    "birthday_bonuses_award",
    "birthday_days",
    "challenge_recalculate",
    "challenges_progress_profiles",
    "challenges_progress_purchases",
    "challenges_progress_refunds",
    "engagement_settings",
    "leaderboard_profile_set",
    "points_award_many",
    "referrals_open",
    "referrals_qualify",
]
