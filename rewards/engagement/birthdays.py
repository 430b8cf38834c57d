"""The birthday bonus, once a year per member by ledger key; 29 February celebrated on 28 February in other years."""

from datetime import date

from django.db.models import Q
from django.utils import timezone

from members.models import Member
from rewards.reasons import BIRTHDAY, Reason

from .awarding import MEMBERS_PER_CHUNK, PointsAward, engagement_settings, points_award_many

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
