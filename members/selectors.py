"""Reads about members: consent state, purchase matching, likely duplicates."""

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery

from .models import ConsentEvent, Member


def consent_state(*, member: Member) -> dict[tuple[str, str], ConsentEvent]:
    """The latest event per (channel, purpose): the member's current consent."""
    state: dict[tuple[str, str], ConsentEvent] = {}
    events = ConsentEvent.objects.filter(member=member).select_related("text").order_by("created_at", "id")
    for event in events:
        state[(event.channel, event.purpose)] = event
    return state


def consent_states(*, member_ids: list[int]) -> dict[tuple[int, str, str], bool]:
    """Current consent of many members in one query: (member_id, channel, purpose) -> granted."""
    states: dict[tuple[int, str, str], bool] = {}
    rows = (
        ConsentEvent.objects.filter(member_id__in=member_ids)
        .order_by("member_id", "channel", "purpose", "created_at", "id")
        .values_list("member_id", "channel", "purpose", "granted")
    )
    for member_id, channel, purpose, granted in rows:
        states[(member_id, channel, purpose)] = granted
    return states


def members_with_consent(*, channel: str, purpose: str = "marketing") -> QuerySet[Member]:
    """Members whose latest event for this channel and purpose grants consent."""
    latest = ConsentEvent.objects.filter(member=OuterRef("pk"), channel=channel, purpose=purpose).order_by(
        "-created_at", "-id"
    )
    return (
        Member.objects.filter(status=Member.Status.ACTIVE)
        .annotate(_consent=Subquery(latest.values("granted")[:1]))
        .filter(_consent=True)
    )


def member_find(*, card: str = "", member_number: str = "", email: str = "", phone: str = "") -> Member | None:
    """Match a purchase to a member by card, member number, email or phone, in that order."""
    base = Member.objects.exclude(status__in=[Member.Status.ERASED])
    lookups = [
        ("cards__number", card.strip()),
        ("member_number", member_number.strip()),
        ("email", email.strip().lower()),
        ("phone", phone.strip()),
    ]
    for field, value in lookups:
        if value:
            member = base.filter(**{field: value}).first()
            if member is not None:
                return member.merged_into if member.status == Member.Status.MERGED else member
    return None


def member_duplicate_groups(*, limit: int = 200) -> list[dict]:
    """Groups of active members sharing an email or a phone: likely duplicates for staff to review."""
    active = Member.objects.filter(status=Member.Status.ACTIVE)
    groups = []
    for field in ("email", "phone"):
        values = list(
            active.exclude(**{field: ""})
            .values(field)
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .order_by("-n", field)
            .values_list(field, flat=True)[:limit]
        )
        by_value: dict[str, list[Member]] = {value: [] for value in values}
        for member in active.filter(**{f"{field}__in": values}).order_by("joined_at", "id"):
            by_value[getattr(member, field)].append(member)
        groups += [{"field": field, "value": value, "members": by_value[value]} for value in values]
    return groups


def member_search(*, query: str) -> QuerySet[Member]:
    query = query.strip()
    return Member.objects.filter(
        Q(member_number=query)
        | Q(email__iexact=query)
        | Q(phone=query)
        | Q(last_name__icontains=query)
        | Q(first_name__icontains=query)
    )


def portal_member(user) -> Member | None:
    """The member behind a portal login, or None (staff accounts, erased or merged members)."""
    try:
        member = user.member
    except (ObjectDoesNotExist, AttributeError):
        return None
    if member.status in (Member.Status.ERASED, Member.Status.MERGED):
        return None
    return member
