"""Journeys: automatic messages on an occasion, each at most once per member, journey and occasion.

Welcome and tier upgrade react to the posting hooks (members.events.MemberJoined, rewards.events.TierChanged,
after commit); birthday, expiring points and win-back run from a daily schedule (django-celery-beat, editable
in the admin). The occasion is part of a unique key on the delivery (journey, member, occasion): "birthday:2026",
"expiring:2026-12", "winback:<last purchase id>", so a schedule run twice, or a hook announced again, sends
nothing twice."""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from loyalty_site.hooks import receiver
from members.events import MemberJoined
from members.models import Member, Purchase
from rewards import config as programme
from rewards.events import TierChanged

from . import conf, sending
from .models import Delivery, Journey


def journey_deliver(*, journey: Journey, occasions: Iterable[tuple[int, str]]) -> int:
    """Queue the journey's message for (member id, occasion) pairs not sent before; returns how many are new."""
    if not journey.enabled or journey.template is None:
        return 0
    template = journey.template
    occasions = list(occasions)
    if not occasions:
        return 0
    now = timezone.now()
    new = 0
    size = conf.batch_size()
    for start in range(0, len(occasions), size):
        chunk = occasions[start : start + size]
        rows = [
            Delivery(
                journey=journey,
                template=template,
                member_id=member_id,
                occasion=occasion,
                channel=template.channel,
                purpose=template.purpose,
                created_at=now,
            )
            for member_id, occasion in chunk
        ]
        Delivery.objects.bulk_create(rows, ignore_conflicts=True)
        ids = list(
            Delivery.objects.filter(
                journey=journey,
                member_id__in=[m for m, _ in chunk],
                status=Delivery.Status.QUEUED,
                created_at=now,
                attempts=0,
            ).values_list("pk", flat=True)
        )
        new += len(ids)
        if ids:
            sending.enqueue_send(ids)
    return new


def _journey(code: str) -> Journey | None:
    return Journey.objects.filter(code=code, enabled=True, template__isnull=False).select_related("template").first()


@receiver(MemberJoined, on_commit=True)
def welcome(events) -> None:
    journey = _journey(Journey.Code.WELCOME)
    if journey:
        journey_deliver(journey=journey, occasions=[(e.member_id, "welcome") for e in events if e.welcome])


# Journey codes switched on with a message, by database alias, with the programme version they were read under.
_switched_on: dict[str, tuple[int, frozenset[str]]] = {}


def journeys_switched_on() -> frozenset[str]:
    """Codes of the journeys switched on with a message. Cached per process under the programme's
    `config_version`, which every change of a journey renews (migration campaigns 0005): inside a posting
    path's announcements it costs no query, as the engagement hooks' configuration does."""
    return programme.cached_under_version(_switched_on, _journeys_switched_on)


def _journeys_switched_on(_version: int | None) -> frozenset[str]:
    return frozenset(
        Journey.objects.filter(enabled=True, template__isnull=False).values_list("code", flat=True).order_by()
    )


@receiver(TierChanged)
def tier_upgrade(events) -> None:
    """In the posting transaction, without a query while the journey is off (a till's post that moves a tier);
    the messages are queued once it commits, never for a post that rolls back."""
    if Journey.Code.TIER_UPGRADE not in journeys_switched_on():
        return
    events = tuple(events)
    transaction.on_commit(lambda: tier_upgrade_deliver(events))


def tier_upgrade_deliver(events) -> None:
    from rewards.models import Tier

    journey = _journey(Journey.Code.TIER_UPGRADE)
    if not journey:
        return
    ranks = dict(Tier.objects.values_list("pk", "rank"))
    upgrades = [
        (e.member_id, f"tier:{e.to_tier_id}:{e.changed_at:%Y-%m-%d}")
        for e in events
        if e.to_tier_id is not None and ranks.get(e.to_tier_id, -1) > ranks.get(e.from_tier_id, -1)
    ]
    journey_deliver(journey=journey, occasions=upgrades)


def journeys_daily(*, now: datetime | None = None) -> dict[str, int]:
    """Birthday, expiring points and win-back for today (beat, once a day; safe to run again)."""
    from rewards.selectors import members_points_expiring

    now = now or timezone.now()
    today = timezone.localdate(now)
    done: dict[str, int] = {}
    active = Member.objects.filter(status=Member.Status.ACTIVE)
    journey = _journey(Journey.Code.BIRTHDAY)
    if journey:
        ids = active.filter(birth_date__month=today.month, birth_date__day=today.day).values_list("pk", flat=True)
        done["birthday"] = journey_deliver(journey=journey, occasions=[(pk, f"birthday:{today.year}") for pk in ids])
    journey = _journey(Journey.Code.POINTS_EXPIRING)
    if journey:
        rows = members_points_expiring(days=journey.days or 30, now=now).filter(member_id__in=active.values("pk"))
        done["points_expiring"] = journey_deliver(
            journey=journey, occasions=[(row["member_id"], f"expiring:{today:%Y-%m}") for row in rows]
        )
    journey = _journey(Journey.Code.WIN_BACK)
    if journey:
        cutoff = now - timedelta(days=journey.days)
        rows = (
            Purchase.objects.filter(member__status=Member.Status.ACTIVE)
            .values("member_id")
            .annotate(last=Max("purchased_at"), last_id=Max("id"))
            .filter(last__lt=cutoff)
        )
        done["win_back"] = journey_deliver(
            journey=journey, occasions=[(row["member_id"], f"winback:{row['last_id']}") for row in rows]
        )
    return done
