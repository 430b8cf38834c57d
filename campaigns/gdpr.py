"""What campaigns adds to a member's copy of their data (members.data_export), and what it scrubs on erasure.

Export: every message queued for the member (campaign or journey, channel, purpose, status, when it was sent,
opened, clicked, the unsubscribe it led to) and the static segments listing them. Consent changes are in the
members app's own "consents" section.

Erasure (members.events.MemberErased, in the erasure's transaction): the personal values kept with deliveries
(`context`: extra fields such as a voucher code), send errors (an SMTP or SMS gateway's answer often quotes the
address), the SMS outbox's phone numbers and rendered texts, and the member's place on static segment lists.
Deliveries themselves stay, holding ids and statuses only, so campaign results still add up; queued messages
are cancelled (an erased member has no address to send to)."""

from collections.abc import Sequence

from loyalty_site.hooks import receiver
from members.data_export import register_section
from members.events import MemberErased
from members.models import Member

from .models import Delivery, SegmentMember, SmsOutbox


def delivery_rows(member: Member) -> list[dict]:
    return [
        {
            "created_at": row["created_at"],
            "campaign": row["campaign__name"] or "",
            "journey": row["journey__code"] or "",
            "channel": row["channel"],
            "purpose": row["purpose"],
            "status": row["status"],
            "sent_at": row["sent_at"],
            "opened_at": row["opened_at"],
            "clicked_at": row["clicked_at"],
            "unsubscribed_at": row["unsubscribed_at"],
        }
        for row in Delivery.objects.filter(member=member)
        .order_by("created_at", "id")
        .values(
            "created_at",
            "campaign__name",
            "journey__code",
            "channel",
            "purpose",
            "status",
            "sent_at",
            "opened_at",
            "clicked_at",
            "unsubscribed_at",
        )
    ]


def segment_list_rows(member: Member) -> list[dict]:
    return [
        {"segment": name}
        for name in SegmentMember.objects.filter(member=member).values_list("segment__name", flat=True)
    ]


register_section("messages", delivery_rows)
register_section("segment_lists", segment_list_rows)


@receiver(MemberErased)
def erase_campaigns(events: Sequence[MemberErased]) -> None:
    ids = [event.member_id for event in events]
    SmsOutbox.objects.filter(delivery__member_id__in=ids).update(phone="", text="")
    Delivery.objects.filter(member_id__in=ids, status=Delivery.Status.QUEUED).update(status=Delivery.Status.CANCELLED)
    Delivery.objects.filter(member_id__in=ids).update(context={}, error="")
    SegmentMember.objects.filter(member_id__in=ids).delete()
