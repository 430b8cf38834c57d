"""The sweep: why a dead worker, a lost task or a fan-out that died costs a delay, never a message.

Run by beat every minute (`campaigns_sweep_task`); resuming a paused campaign uses the same search. It hands
out again the rows whose lease ended, the retries that are due and the queued rows whose task was lost, re-runs
fan-outs that died half-way and finishes the campaigns nothing is left of.
"""

from datetime import timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

# `sending` is the package itself: its enqueue_* are replaced at run time (campaigns/tasks.py, tests).
from .. import conf, sending
from ..models import Campaign, Delivery
from .fanout import campaign_finish_if_done


def deliveries_stalled(*, campaign_id: int | None = None, grace_seconds: int | None = None) -> list[int]:
    """Deliveries nobody is working on: leases that ended, retries that are due, queued rows older than the
    grace (their task was lost with a broker or worker). For the sweep and for resuming a campaign."""
    now = timezone.now()
    grace = conf.lease_seconds() if grace_seconds is None else grace_seconds
    old = now - timedelta(seconds=grace)
    # A queued row older than the grace is lost only if its campaign stalled: while messages of the campaign
    # are being marked sent, its tasks are still in the broker's queue and handing them out again would only
    # pile up duplicate tasks (harmless, the claim sends once, but wasted).
    progressing = Delivery.objects.filter(campaign=OuterRef("campaign"), sent_at__gte=old)
    queued = Q(status=Delivery.Status.QUEUED) & (
        (Q(next_attempt_at__isnull=True, created_at__lte=old) & ~Q(Exists(progressing)))
        | Q(next_attempt_at__lte=now - timedelta(seconds=grace / 5))
    )
    expired = Q(status=Delivery.Status.SENDING, lease_until__lt=now)
    rows = Delivery.objects.filter(queued | expired).filter(
        Q(campaign__isnull=True) | Q(campaign__status=Campaign.Status.SENDING)
    )
    if campaign_id is not None:
        rows = rows.filter(campaign_id=campaign_id)
    return list(rows.order_by("pk").values_list("pk", flat=True))


def campaigns_sweep(*, grace_seconds: int | None = None) -> int:
    """Hand stalled deliveries to senders again and re-run fan-outs that died; returns the rows handed out."""
    now = timezone.now()
    grace = conf.lease_seconds() if grace_seconds is None else grace_seconds
    for campaign_id in Campaign.objects.filter(
        status=Campaign.Status.SENDING, fanout_done=False, launched_at__lte=now - timedelta(seconds=grace)
    ).values_list("pk", flat=True):
        sending.enqueue_fanout(campaign_id)
    ids = deliveries_stalled(grace_seconds=grace)
    size = conf.batch_size()
    for start in range(0, len(ids), size):
        sending.enqueue_send(ids[start : start + size])
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.SENDING, fanout_done=True).values_list(
        "pk", flat=True
    ):
        campaign_finish_if_done(campaign_id=campaign_id)
    return len(ids)
