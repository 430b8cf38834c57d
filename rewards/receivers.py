"""What the points economy does when another app announces something (loyalty_site.hooks).

Every subscriber of the points economy is here, found by one grep (`@receiver(`); imported from
RewardsConfig.ready()."""

from collections.abc import Sequence

from loyalty_site.hooks import receiver
from members.events import MemberJoined
from members.models import Member

from .models import EventRule
from .services import event_award, member_profile_is_complete


@receiver(MemberJoined)
def joining_bonus_award(events: Sequence[MemberJoined]) -> None:
    """The joining bonus, and the completed-profile bonus for a member who joins with a whole profile, in the
    enrolment's transaction. Members brought in from another system's history (`welcome` False) get neither.
    `event_award` is idempotent by member and reference, so an enrolment announced again awards nothing more."""
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
    # In member order, as every batch locks points accounts: no deadlock with another batch.
    for member in Member.objects.filter(pk__in=welcomed).order_by("pk"):
        if EventRule.Event.JOINED in rules:
            event_award(member=member, event=EventRule.Event.JOINED, reference="enrolment")
        if EventRule.Event.PROFILE_COMPLETED in rules and member_profile_is_complete(member):
            event_award(member=member, event=EventRule.Event.PROFILE_COMPLETED, reference="profile")
