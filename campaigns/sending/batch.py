"""One send task's batch: claim, ask again who may get it, send by channel, say when to come back.

The entry point a sender (the Celery task, the demo, the benchmark) calls with delivery ids. It returns the
delay until a retry rather than scheduling it, so the caller decides how to come back (and the sweep does, if
the caller dies first). The quiet hours are checked before the claim: a batch inside them claims nothing.
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.utils import timezone

from members.models import Channel

from ..models import Campaign, Delivery, MessageTemplate
from ..selectors import in_ids
from .claiming import _claim
from .email_channel import _send_emails
from .fanout import campaign_finish_if_done
from .recipients import _with_consent
from .sms_channel import _send_sms


def deliveries_send(*, delivery_ids: Sequence[int]) -> dict:
    """Claim, re-check consent, render and send a batch. Returns counts and `retry_in` (seconds, 0 for none):
    the caller schedules the batch again then (the sweep does it if the caller dies first)."""
    quiet = quiet_hours_delay(delivery_ids=delivery_ids)
    if quiet:
        return {"claimed": 0, "sent": 0, "skipped": 0, "failed": 0, "retry_in": quiet}
    token = uuid.uuid4().hex
    claimed, capped = _claim(delivery_ids, token)
    result = {"claimed": len(claimed), "sent": 0, "skipped": capped, "failed": 0, "retry_in": 0.0}
    if not claimed:
        if capped:
            for campaign_id in set(
                Delivery.objects.filter(in_ids("pk", delivery_ids), campaign__isnull=False).values_list(
                    "campaign_id", flat=True
                )
            ):
                campaign_finish_if_done(campaign_id=campaign_id)
        return result
    deliveries = _claimed_deliveries(claimed, token)
    by_channel: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        by_channel[delivery.channel].append(delivery)
    for channel, group in by_channel.items():
        group = _with_consent(group, channel, token, result)
        if not group:
            continue
        send = _send_emails if channel == Channel.EMAIL else _send_sms
        retry = send(group, token, result)
        if retry:
            result["retry_in"] = retry if not result["retry_in"] else min(result["retry_in"], retry)
    for campaign_id in {d.campaign_id for d in deliveries if d.campaign_id}:
        campaign_finish_if_done(campaign_id=campaign_id)
    return result


def _claimed_deliveries(claimed: list[int], token: str) -> list[Delivery]:
    """The claimed rows with only what sending reads (model instances are most of a batch's Python time), the
    member's fields joined, each template loaded once and shared."""
    deliveries = list(
        Delivery.objects.filter(in_ids("pk", claimed), claim=token)
        .select_related("member")
        .only(*_SEND_FIELDS)
        .order_by("pk")
    )
    templates = MessageTemplate.objects.in_bulk({d.template_id for d in deliveries if d.template_id is not None})
    for delivery in deliveries:
        delivery.template = templates.get(delivery.template_id)
    return deliveries


_SEND_FIELDS = (
    "id",
    "member_id",
    "template_id",
    "campaign_id",
    "channel",
    "purpose",
    "context",
    "attempts",
    "member__id",
    "member__email",
    "member__phone",
    "member__status",
    "member__first_name",
)


def quiet_hours_delay(*, delivery_ids: Sequence[int], now: datetime | None = None) -> float:
    """Seconds until the quiet hours (Europe/Warsaw, SMS campaigns) of these deliveries end; 0 outside them."""
    now = timezone.localtime(now or timezone.now())
    windows = set(
        Campaign.objects.filter(
            pk__in=Delivery.objects.filter(in_ids("pk", delivery_ids)).values("campaign_id"),
            channel=Channel.SMS,
            quiet_start__isnull=False,
            quiet_end__isnull=False,
        ).values_list("quiet_start", "quiet_end")
    )
    delay = 0.0
    for start, end in windows:
        current = now.time()
        inside = start <= current < end if start < end else (current >= start or current < end)
        if inside:
            ends = now.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
            if ends <= now:
                ends += timedelta(days=1)
            delay = max(delay, (ends - now).total_seconds())
    return delay
