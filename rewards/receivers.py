"""What the points economy does when another app announces something (loyalty_site.hooks).

Every subscriber of the points economy is here, found by one grep (`@receiver(`); imported from
RewardsConfig.ready()."""

from collections.abc import Sequence

from django.utils import timezone

from loyalty_site.hooks import receiver
from members.events import MemberJoined
from members.models import Member

from .awards import EventAward, events_award
from .models import EventRule
from .services import member_profile_is_complete


@receiver(MemberJoined)
def joining_bonus_award(events: Sequence[MemberJoined]) -> None:
    """The joining bonus, and the completed-profile bonus for a member who joins with a whole profile, in the
    enrolment's transaction, for the whole set in one `events_award` (an import chunk's thousands of members
    in a handful of queries). Members brought in from another system's history (`welcome` False) get neither.
    Awards are idempotent by member and reference, so an enrolment announced again awards nothing more."""
    welcomed = sorted({event.member_id for event in events if event.welcome})
    if not welcomed:
        return
    rules = set(
        EventRule.objects.filter(
            event__in=[EventRule.Event.JOINED, EventRule.Event.PROFILE_COMPLETED], is_active=True
        ).values_list("event", flat=True)
    )
    if not rules:
        return
    now = timezone.now()
    awards = []
    for member in Member.objects.filter(pk__in=welcomed).order_by("pk"):
        if EventRule.Event.JOINED in rules:
            awards.append(EventAward(member.pk, EventRule.Event.JOINED, "enrolment", now))
        if EventRule.Event.PROFILE_COMPLETED in rules and member_profile_is_complete(member):
            awards.append(EventAward(member.pk, EventRule.Event.PROFILE_COMPLETED, "profile", now))
    events_award(awards=awards)
