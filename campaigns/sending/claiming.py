"""Claiming deliveries: why two senders, or one task delivered twice, never send the same message.

A sender moves rows from `queued` (or `sending` with a lease that has ended) to `sending` under its own token
and a lease, with `SELECT ... FOR UPDATE SKIP LOCKED` and an UPDATE in one transaction: whoever comes second
finds the rows locked or claimed and leaves them alone. The frequency cap is checked again here, under the lock,
because two campaigns fanned out at the same moment both found the member under it.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, F, OuterRef, Q, Subquery
from django.utils import timezone

from .. import conf
from ..models import Campaign, Delivery, MessageTemplate
from ..selectors import in_ids


def _claimable(now: datetime) -> Q:
    queued = Q(status=Delivery.Status.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    expired = Q(status=Delivery.Status.SENDING, lease_until__lt=now)
    active = Q(campaign__isnull=True) | Q(campaign__status=Campaign.Status.SENDING)
    return (queued | expired) & active


def deliveries_claim(*, delivery_ids: Sequence[int], token: str) -> list[int]:
    """Move the claimable ones of these deliveries to `sending` under `token`; returns their ids.

    Rows another sender holds (locked right now, or claimed with a lease that has not ended) are left alone,
    so two runs of the same batch at once split nothing and send nothing twice. Rows over their campaign's
    frequency cap now are skipped (`_over_frequency_cap`)."""
    return _claim(delivery_ids, token)[0]


def _claim(delivery_ids: Sequence[int], token: str) -> tuple[list[int], int]:
    """The claimed ids and how many were skipped for the frequency cap, in one transaction."""
    now = timezone.now()
    skipped = 0
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(_claimable(now), in_ids("pk", delivery_ids))
            .values_list("pk", flat=True)
        )
        capped = _over_frequency_cap(ids, now) if ids else set()
        if capped:
            skipped = Delivery.objects.filter(pk__in=capped).update(
                status=Delivery.Status.SKIPPED, error="frequency cap at send time", lease_until=None
            )
            ids = [pk for pk in ids if pk not in capped]
        if ids:
            Delivery.objects.filter(in_ids("pk", ids)).update(
                status=Delivery.Status.SENDING,
                claim=token,
                lease_until=now + timedelta(seconds=conf.lease_seconds()),
                attempts=F("attempts") + 1,
            )
    return ids, skipped


def _over_frequency_cap(ids: list[int], now: datetime) -> set[int]:
    """Of these deliveries (locked by the claim), those whose campaign has a frequency cap that the member has
    reached by now: the fan-out checked the cap, but two campaigns fanned out at the same moment both found the
    member under it. Counted, per member, like the fan-out: other marketing deliveries within the cap's days
    that were sent or are being sent, and queued ones with a smaller id. The id decides between two queued
    rows, so two claims racing for the same member agree on which message goes (the older one); a claimed row
    is only ever `sending` after its own check passed. One query per capped campaign in the batch, none for
    campaigns without a cap."""
    caps = list(
        Campaign.objects.filter(
            pk__in=Delivery.objects.filter(in_ids("pk", ids)).values("campaign_id"), cap_messages__gt=0, cap_days__gt=0
        ).values_list("pk", "cap_messages", "cap_days")
    )
    capped: set[int] = set()
    for campaign_id, cap_messages, cap_days in caps:
        others = (
            Delivery.objects.filter(
                member_id=OuterRef("member_id"),
                purpose=MessageTemplate.Purpose.MARKETING,
                created_at__gte=now - timedelta(days=cap_days),
            )
            .exclude(campaign_id=campaign_id)
            .filter(
                Q(status__in=[Delivery.Status.SENT, Delivery.Status.SENDING])
                | Q(status=Delivery.Status.QUEUED, pk__lt=OuterRef("pk"))
            )
            .order_by()
            .values("member_id")
            .annotate(n=Count("pk"))
            .values("n")
        )
        capped |= set(
            Delivery.objects.filter(in_ids("pk", ids), campaign_id=campaign_id)
            .annotate(others=Subquery(others))
            .filter(others__gte=cap_messages)
            .values_list("pk", flat=True)
        )
    return capped
