"""Reads of campaigns: who is in a segment, campaign progress and results."""

from collections.abc import Iterable

from django.db import connection
from django.db.models import Count, F, Q, QuerySet

from loyalty_site.db import AnyOf
from members.models import Member

from .models import Campaign, Delivery, Segment
from .rules import rule_q


def in_ids(field: str, ids: Iterable[int]):
    """`field` is one of these ids, for a batch: on PostgreSQL `field = ANY($1::bigint[])`, one array parameter
    instead of hundreds of placeholders (which Django prepares one by one and psycopg parses again on every
    query: a statement over 4 KB is not cached; a third of the sender's CPU with batches of 500), and which the
    planner counts right (an `IN (SELECT unnest(...))` is guessed at 200 rows and sometimes got a merge join
    over the whole delivery table)."""
    ids = list(ids)
    if connection.vendor == "postgresql":
        return AnyOf(F(field), ids)
    return Q(**{f"{field}__in": ids})


def rules_q(rules: Iterable[tuple[int, str, str, str]]) -> Q:
    """(group, kind, operator, value) rules as one Q: rules of a group all hold, any group may hold."""
    groups: dict[int, Q] = {}
    for group, kind, operator, value in rules:
        q = rule_q(kind, operator, value)
        groups[group] = groups[group] & q if group in groups else q
    combined = Q()
    for q in groups.values():
        combined = combined | q if combined else q
    return combined


def segment_members(*, segment: Segment) -> QuerySet[Member]:
    """The active members of a segment, as one query the database evaluates."""
    active = Member.objects.filter(status=Member.Status.ACTIVE)
    if segment.kind == Segment.Kind.STATIC:
        return active.filter(pk__in=segment.listed.values("member_id"))
    rules = [(rule.group, rule.kind, rule.operator, rule.value) for rule in segment.rules.all()]
    if not rules:
        return active.none()
    return active.filter(rules_q(rules))


def campaign_progress(*, campaign: Campaign) -> dict:
    """Counts by delivery status and the share done, for the admin's progress bar."""
    counts = dict(Delivery.objects.filter(campaign=campaign).values_list("status").annotate(n=Count("id")).order_by())
    total = sum(counts.values())
    pending = counts.get(Delivery.Status.QUEUED, 0) + counts.get(Delivery.Status.SENDING, 0)
    done = total - pending
    return {
        "counts": counts,
        "total": total,
        "done": done,
        "percent": int(done * 100 / total) if total else (100 if campaign.fanout_done else 0),
        "sent": counts.get(Delivery.Status.SENT, 0),
        "failed": counts.get(Delivery.Status.FAILED, 0),
        "skipped": counts.get(Delivery.Status.SKIPPED, 0),
        "control": counts.get(Delivery.Status.CONTROL, 0),
        "pending": pending,
    }
