"""Who a campaign is for, and which variant each of them gets.

Decided once, at the fan-out: the segment, consent for the channel, an address and the frequency cap. The split
into variants and the control group is a hash of (campaign, member), so a fan-out run again after a crash puts
nobody in another group. Consent and the cap can change before the message goes: they are asked again at the
claim (claiming.py) and before sending (recipients.py).
"""

import zlib
from collections.abc import Sequence
from datetime import timedelta

from django.db.models import Count
from django.utils import timezone

from members.models import Channel
from members.selectors import members_with_consent

from ..models import Campaign, Delivery, MessageTemplate, Variant
from ..selectors import segment_members

# Deliveries on their way: they count against the frequency cap and keep their campaign from being finished.
PENDING = (Delivery.Status.QUEUED, Delivery.Status.SENDING)


def _bucket(campaign_id: int, member_id: int, salt: str) -> int:
    """A stable number 0..9999 per member and campaign: the same split on every run of the fan-out."""
    return zlib.crc32(f"{salt}:{campaign_id}:{member_id}".encode()) % 10000


def campaign_audience(*, campaign: Campaign):
    """Members the campaign is for at fan-out: the segment, with consent and an address for the channel, within
    the frequency cap. Consent is checked again when each message is sent."""
    members = segment_members(segment=campaign.segment).filter(
        pk__in=members_with_consent(channel=campaign.channel).values("pk")
    )
    members = members.exclude(email="") if campaign.channel == Channel.EMAIL else members.exclude(phone="")
    if campaign.cap_messages and campaign.cap_days:
        since = timezone.now() - timedelta(days=campaign.cap_days)
        capped = (
            Delivery.objects.filter(
                purpose=MessageTemplate.Purpose.MARKETING,
                created_at__gte=since,
                status__in=[Delivery.Status.SENT, *PENDING],
            )
            .exclude(campaign=campaign)
            .values("member_id")
            .annotate(n=Count("id"))
            .filter(n__gte=campaign.cap_messages)
            .values("member_id")
        )
        members = members.exclude(pk__in=capped)
    return members


def _assign(campaign: Campaign, variants: Sequence[Variant], member_id: int) -> Variant | None:
    """The member's variant, or None for the control group."""
    if _bucket(campaign.pk, member_id, "control") < campaign.control_percent * 100:
        return None
    point = _bucket(campaign.pk, member_id, "variant") * sum(v.weight for v in variants) // 10000
    for variant in variants:
        if point < variant.weight:
            return variant
        point -= variant.weight
    return variants[-1]
