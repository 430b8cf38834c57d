"""Points for events other than purchases (birthday, profile completed, ...)."""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from members.models import Member

from ..models import (
    EventRule,
    LedgerEntry,
)
from .accounts import _existing

# --- Non-purchase events -------------------------------------------------------------------------


def _period_start(period: str, now: datetime) -> datetime | None:
    local = timezone.localtime(now)
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == EventRule.Period.DAY:
        return midnight
    if period == EventRule.Period.WEEK:
        return midnight - timedelta(days=local.weekday())
    if period == EventRule.Period.MONTH:
        return midnight.replace(day=1)
    return None


def event_award(*, member: Member, event: str, reference: str, now: datetime | None = None) -> LedgerEntry | None:
    """Points for a non-purchase event, within the rule's cap per period. None when capped or no rule; the
    entry recorded before when awarded already. One award of `rewards.awards.events_award` (imported here:
    it writes with the batch's helpers, which import this module)."""
    from ..awards import EventAward, events_award

    with transaction.atomic():
        events_award(awards=[EventAward(member.pk, event, reference, now or timezone.now())])
        if not EventRule.objects.filter(event=event, is_active=True).exists():
            return None
        return _existing(f"event:{event}:{member.pk}:{reference}")


def member_profile_is_complete(member: Member) -> bool:
    return all([member.email, member.phone, member.birth_date, member.city, member.postal_code])
