"""What campaigns does when rewards announces something that is not a journey of the marketing calendar.

"Voucher issued": after a redemption commits, the member gets the message of the "voucher issued" journey
(switched on, with a message, in the admin) on its channel. It is a service message, not marketing: the
delivery's purpose is transactional whatever the template says, so it needs no marketing consent and carries
no unsubscribe link (campaigns.sending.email_channel), and no frequency cap counts it. The occasion
"voucher:<id>" makes it once per voucher (the unique journey, member, occasion), even when the event comes twice.
"""

from collections.abc import Sequence

from loyalty_site.hooks import receiver
from rewards.events import VoucherIssued

from . import sending
from .journeys import _journey
from .models import Delivery, Journey, MessageTemplate


def _valid_until(expires_at) -> str:
    from django.utils import formats, timezone

    return formats.date_format(timezone.localtime(expires_at), "SHORT_DATE_FORMAT")


@receiver(VoucherIssued, on_commit=True)
def voucher_issued(events: Sequence[VoucherIssued]) -> None:
    journey = _journey(Journey.Code.VOUCHER_ISSUED)
    if journey is None:
        return
    from rewards.models import Reward

    names = dict(Reward.objects.filter(pk__in={e.reward_id for e in events}).values_list("pk", "name"))
    template = journey.template
    rows = [
        Delivery(
            journey=journey,
            template=template,
            member_id=event.member_id,
            occasion=f"voucher:{event.voucher_id}",
            channel=template.channel,
            purpose=MessageTemplate.Purpose.TRANSACTIONAL,
            context={
                "voucher_code": event.code,
                "voucher_reward": names.get(event.reward_id, ""),
                "voucher_valid_until": _valid_until(event.expires_at),
            },
        )
        for event in events
    ]
    Delivery.objects.bulk_create(rows, ignore_conflicts=True)
    ids = list(
        Delivery.objects.filter(
            journey=journey,
            occasion__in=[row.occasion for row in rows],
            status=Delivery.Status.QUEUED,
            attempts=0,
        ).values_list("pk", flat=True)
    )
    if ids:
        sending.enqueue_send(ids)
