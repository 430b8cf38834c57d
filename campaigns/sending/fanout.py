"""Turning a launched campaign into delivery rows: the step that makes sending exactly-once possible.

Every message is a `Delivery` row, unique per (campaign, member, channel), written before anything is sent; the
senders only ever work on rows, so a fan-out that runs twice (the sweep re-runs one that died) adds nothing and
moves nobody. Each chunk of rows goes to a sender as soon as it is written, so sending starts while the fan-out
goes on. Finishing a campaign lives here as well: the senders and the sweep both need that one rule.
"""

from datetime import datetime

from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

# `sending` is the package itself: its enqueue_send is replaced at run time (campaigns/tasks.py, tests).
from .. import conf, sending
from ..models import Campaign, Delivery, MessageTemplate, Variant
from .audience import PENDING, _assign, campaign_audience


def campaign_fanout(*, campaign_id: int) -> int:
    """Write the campaign's delivery rows in batches and hand each batch to a sender at once.

    Safe to run again (a sweep after a crash): rows already there are kept (unique per campaign, member,
    channel) and the split is the same, so nobody changes variant or group. Returns the rows written."""
    campaign = Campaign.objects.get(pk=campaign_id)
    if campaign.status not in (Campaign.Status.SENDING, Campaign.Status.PAUSED):
        return 0
    variants = list(campaign.variants.order_by("label"))
    member_ids = list(campaign_audience(campaign=campaign).order_by("pk").values_list("pk", flat=True))
    size = conf.batch_size()
    written = 0
    now = timezone.now()
    for start in range(0, len(member_ids), size):
        chunk = member_ids[start : start + size]
        _deliveries_insert(campaign, [(member_id, _assign(campaign, variants, member_id)) for member_id in chunk], now)
        written += len(chunk)
        ids = list(
            Delivery.objects.filter(
                campaign=campaign, member_id__gte=chunk[0], member_id__lte=chunk[-1], status=Delivery.Status.QUEUED
            ).values_list("pk", flat=True)
        )
        if ids and campaign.status == Campaign.Status.SENDING:
            sending.enqueue_send(ids)
    Campaign.objects.filter(pk=campaign.pk).update(fanout_done=True)
    campaign_finish_if_done(campaign_id=campaign.pk)
    return written


_INSERT_SQL = (
    f"INSERT INTO {Delivery._meta.db_table} (campaign_id, variant_id, template_id, member_id, channel, purpose, "  # noqa: S608
    "status, created_at, occasion, context, attempts, claim, error, provider_id) "
    "SELECT %s, v.variant_id, v.template_id, v.member_id, %s, %s, v.status, %s, '', '{}'::jsonb, 0, '', '', '' "
    "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[]) "
    "AS v(member_id, variant_id, template_id, status) "
    "ON CONFLICT DO NOTHING"
)


def _deliveries_insert(campaign: Campaign, rows: list[tuple[int, Variant | None]], now: datetime) -> None:
    """The fan-out's rows for (member, variant or None for the control group); rows already there are kept. On
    PostgreSQL one INSERT from arrays (a model instance per row was most of the fan-out's CPU)."""
    status = {True: Delivery.Status.QUEUED, False: Delivery.Status.CONTROL}
    if connection.vendor != "postgresql":
        Delivery.objects.bulk_create(
            [
                Delivery(
                    campaign=campaign,
                    variant=variant,
                    template_id=variant.template_id if variant else None,
                    member_id=member_id,
                    channel=campaign.channel,
                    purpose=MessageTemplate.Purpose.MARKETING,
                    status=status[variant is not None],
                    created_at=now,
                )
                for member_id, variant in rows
            ],
            ignore_conflicts=True,
        )
        return
    params = [
        campaign.pk,
        campaign.channel,
        MessageTemplate.Purpose.MARKETING.value,
        connection.ops.adapt_datetimefield_value(now),
        [member_id for member_id, _ in rows],
        [variant.pk if variant else None for _, variant in rows],
        [variant.template_id if variant else None for _, variant in rows],
        [str(status[variant is not None]) for _, variant in rows],
    ]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, params)


def campaign_finish_if_done(*, campaign_id: int) -> bool:
    """Mark a sending campaign sent once its fan-out is done and no delivery is queued or sending."""
    pending = Delivery.objects.filter(campaign=OuterRef("pk"), status__in=PENDING)
    return bool(
        Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING, fanout_done=True)
        .exclude(Exists(pending))
        .update(status=Campaign.Status.SENT, finished_at=timezone.now())
    )
