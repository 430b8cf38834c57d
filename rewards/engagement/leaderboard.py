"""The leaderboard profile a member chooses (display name, opt-in), and the month a monthly leaderboard covers."""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from members.models import Member
from rewards.services import add_months

from .awarding import EngagementError
from .models import (
    LeaderboardProfile,
)

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
