"""Fills the challenge-audience registry rewards keeps (rewards.engagement.audiences) with "segment": a challenge
may be offered to the members of a campaigns segment (dynamic rules or an uploaded list), without rewards
importing campaigns. Imported from CampaignsConfig.ready()."""

from django.utils.translation import gettext_lazy as _

from rewards.engagement.audiences import register


def _choices() -> list[tuple[str, str]]:
    from .models import Segment

    return [(str(pk), name) for pk, name in Segment.objects.order_by("name").values_list("pk", "name")]


def _members(value: str):
    from members.models import Member

    from .models import Segment
    from .selectors import segment_members

    segment = Segment.objects.filter(pk=int(value)).first() if str(value).isdigit() else None
    return segment_members(segment=segment) if segment else Member.objects.none()


register("segment", label=_("Members of a segment"), choices=_choices, members=_members)
