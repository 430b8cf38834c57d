"""Reads of the engagement app: a member's challenges, badges and referrals, leaderboards, the referral link."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from urllib.parse import urlencode

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils import timezone

from members.models import Member
from rewards.models import LedgerEntry, PointsAccount

from . import audiences
from .models import BadgeAward, Challenge, ChallengeCompletion, ChallengeProgress, LeaderboardProfile, Referral
from .services import month_bounds

LEADERBOARD_SIZE = 20
SIGN_UP_PATH = "/dolacz/"  # the portal's sign-up page; it reads ?ref= and sets referred_by


def referral_link(member: Member, request: HttpRequest | None = None) -> str:
    """The link a member shares: the sign-up page with their code (`/dolacz/?ref=CODE`), absolute when a
    request (or the setting PORTAL_BASE_URL) says where the portal lives."""
    path = f"{getattr(settings, 'REFERRAL_SIGN_UP_PATH', SIGN_UP_PATH)}?{urlencode({'ref': member.referral_code})}"
    if request is not None:
        return request.build_absolute_uri(path)
    base = getattr(settings, "PORTAL_BASE_URL", "")
    return f"{base.rstrip('/')}{path}" if base else path


@dataclass
class ChallengeView:
    """A challenge as a member sees it: progress as a fraction."""

    challenge: Challenge
    value: Decimal
    completed_at: datetime | None

    @property
    def target(self) -> Decimal:
        return self.challenge.target

    @property
    def shown_value(self) -> Decimal:
        return min(self.value, self.target) if self.completed_at is None else self.target

    @property
    def percent(self) -> int:
        return 100 if self.completed_at else int(min(self.value, self.target) * 100 / self.target)


def member_challenges(*, member: Member, now: datetime | None = None) -> dict[str, list[ChallengeView]]:
    """The member's challenges: "active", "completed" and "upcoming", with progress, in one query (plus one
    per registered-audience challenge, whose membership another app answers)."""
    now = now or timezone.now()
    rank = PointsAccount.objects.filter(member=member).values("tier__rank")[:1]
    challenges = (
        Challenge.objects.filter(is_active=True)
        .filter(
            Q(ends_at__gt=now) | Exists(ChallengeCompletion.objects.filter(challenge=OuterRef("pk"), member=member))
        )
        .filter(
            Q(audience=Challenge.Audience.EVERYONE)
            | Q(audience=Challenge.Audience.KIND)
            | Q(audience=Challenge.Audience.TIER, tier__rank__lte=Subquery(rank))
        )
        .select_related("badge")
        .annotate(
            progress_value=Subquery(
                ChallengeProgress.objects.filter(challenge=OuterRef("pk"), member=member).values("value")[:1]
            ),
            completed_at=Subquery(
                ChallengeCompletion.objects.filter(challenge=OuterRef("pk"), member=member).values("completed_at")[:1]
            ),
        )
        .order_by("ends_at", "pk")
    )
    result: dict[str, list[ChallengeView]] = {"active": [], "completed": [], "upcoming": []}
    for challenge in challenges:
        if challenge.audience == Challenge.Audience.KIND and not _in_kind(challenge, member):
            continue
        view = ChallengeView(challenge, challenge.progress_value or Decimal(0), challenge.completed_at)
        if view.completed_at:
            result["completed"].append(view)
        elif challenge.starts_at > now:
            result["upcoming"].append(view)
        else:
            result["active"].append(view)
    result["completed"].sort(key=lambda view: view.completed_at, reverse=True)
    return result


def _in_kind(challenge: Challenge, member: Member) -> bool:
    queryset = audiences.members(challenge.audience_kind, challenge.audience_ref)
    return queryset is not None and queryset.filter(pk=member.pk).exists()


def member_challenge(*, member: Member, code: str) -> ChallengeView | None:
    """One challenge the member may see (in its audience, or completed by them), or None."""
    for views in member_challenges(member=member).values():
        for view in views:
            if view.challenge.code == code:
                return view
    challenge = Challenge.objects.filter(code=code, is_active=True, ends_at__lte=timezone.now()).first()
    if challenge is not None and _sees_finished(challenge, member):
        progress = ChallengeProgress.objects.filter(challenge=challenge, member=member).first()
        if progress is not None:
            return ChallengeView(challenge, progress.value, None)
    return None


def _sees_finished(challenge: Challenge, member: Member) -> bool:
    return ChallengeProgress.objects.filter(challenge=challenge, member=member).exists()


def member_badges(*, member: Member) -> QuerySet[BadgeAward]:
    return BadgeAward.objects.filter(member=member).select_related("badge", "challenge").order_by("-awarded_at", "-pk")


def member_referrals(*, member: Member) -> QuerySet[Referral]:
    """The referrals the member made, with the referee's first name only (their friend's privacy)."""
    return (
        Referral.objects.filter(referrer=member)
        .select_related("referee")
        .only("status", "refusal", "created_at", "decided_at", "referee__first_name", "referee__last_name")
        .order_by("-created_at", "-pk")
    )


def leaderboard_profile(*, member: Member) -> LeaderboardProfile | None:
    return LeaderboardProfile.objects.filter(member=member).first()


@dataclass(frozen=True)
class Place:
    rank: int
    display_name: str
    value: Decimal
    is_me: bool


def challenge_leaderboard(*, challenge: Challenge, member: Member, size: int = LEADERBOARD_SIZE) -> list[Place]:
    """The opted-in members furthest in a challenge, under their display names; one query."""
    rows = (
        ChallengeProgress.objects.filter(challenge=challenge, value__gt=0, member__leaderboard_profile__opted_in=True)
        .order_by("-value", "updated_at", "member_id")
        .values_list("member_id", "member__leaderboard_profile__display_name", "value")[:size]
    )
    return [Place(n, name, value, member_id == member.pk) for n, (member_id, name, value) in enumerate(rows, 1)]


def month_leaderboard(*, member: Member, moment: datetime | None = None, size: int = LEADERBOARD_SIZE) -> list[Place]:
    """The opted-in members who earned the most points in the month (purchases and bonuses, less what refunds
    took back); one query."""
    start, end = month_bounds(moment or timezone.now())
    rows = (
        LedgerEntry.objects.filter(
            created_at__gte=start,
            created_at__lt=end,
            kind__in=[LedgerEntry.Kind.EARN, LedgerEntry.Kind.BONUS, LedgerEntry.Kind.REVERSE],
            member__leaderboard_profile__opted_in=True,
        )
        .values("member_id", "member__leaderboard_profile__display_name")
        .annotate(total=Coalesce(Sum("points"), 0))
        .filter(total__gt=0)
        .order_by("-total", "member_id")[:size]
    )
    return [
        Place(n, row["member__leaderboard_profile__display_name"], Decimal(row["total"]), row["member_id"] == member.pk)
        for n, row in enumerate(rows, 1)
    ]
