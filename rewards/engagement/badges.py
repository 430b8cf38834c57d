"""Badges: from challenges (see challenges._complete), the first purchase, a tier reached, a year in the programme."""

from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db.models import Exists, OuterRef
from django.utils import timezone

from members.models import Member
from rewards.models import Tier
from rewards.services import add_months

from .awarding import BADGE_AWARD_COLUMNS, MEMBERS_PER_CHUNK
from .config import engagement_config
from .models import (
    Badge,
    BadgeAward,
)
from .sql.rows import rows_insert_new

# --- Badges ----------------------------------------------------------------------------------------------


def badges_award(*, awards: Iterable[tuple[int, int]], at: datetime | None = None) -> None:
    """(member id, badge id) pairs; a badge a member has already is left as it is."""
    at = at or timezone.now()
    rows_insert_new(
        BadgeAward, BADGE_AWARD_COLUMNS, [(member_id, badge_id, at, None) for member_id, badge_id in awards]
    )


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
