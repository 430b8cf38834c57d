"""What is asked about the recipients when their messages go, not at the fan-out.

Minutes or hours can pass between the fan-out and the send (a large campaign, quiet hours, retries): a member
who withdrew consent or left meanwhile must not get the message, and tracking needs its own (profiling)
consent. Each question, and the personal values the templates use, is asked once for the whole batch.
"""

from collections import defaultdict

from members.models import Channel, Member
from members.selectors import members_with_consent

from ..models import Delivery, MessageTemplate
from ..rendering import rendered_template
from ..selectors import in_ids


def _with_consent(deliveries: list[Delivery], channel: str, token: str, result: dict) -> list[Delivery]:
    """Skip (with the reason) those who may not get the message now: consent withdrawn, no address, not active."""
    member_ids = [d.member_id for d in deliveries]
    consenting = set(
        members_with_consent(channel=channel).filter(in_ids("pk", member_ids)).values_list("pk", flat=True)
    )
    keep, skip = [], defaultdict(list)
    for delivery in deliveries:
        member = delivery.member
        address = member.email if channel == Channel.EMAIL else member.phone
        if member.status != Member.Status.ACTIVE:
            skip["member not active"].append(delivery.pk)
        elif not address:
            skip["no address for the channel"].append(delivery.pk)
        elif delivery.purpose == MessageTemplate.Purpose.MARKETING and delivery.member_id not in consenting:
            skip["no consent at send time"].append(delivery.pk)
        elif delivery.template is None:
            skip["no message"].append(delivery.pk)
        else:
            keep.append(delivery)
    for reason, ids in skip.items():
        result["skipped"] += Delivery.objects.filter(pk__in=ids, claim=token).update(
            status=Delivery.Status.SKIPPED, error=reason, lease_until=None
        )
    return keep


def _tracking_allowed(deliveries: list[Delivery]) -> set[int]:
    member_ids = [d.member_id for d in deliveries]
    return set(
        members_with_consent(channel=Channel.EMAIL, purpose="profiling")
        .filter(in_ids("pk", member_ids))
        .values_list("pk", flat=True)
    )


def _personal(deliveries: list[Delivery]) -> dict[int, dict]:
    from ..personal import personal_values

    fields: set[str] = set()
    for delivery in deliveries:
        fields |= rendered_template(delivery.template).fields
    return personal_values([d.member for d in deliveries], fields)
