"""Recording what became of a claimed message: accepted, refused for good, or to be tried again later.

An acceptance is written as soon as the provider gives it, in its own short commit (a small group at a time on
the pipelined SMTP path), so a worker killed mid-batch leaves as few accepted messages unrecorded as possible:
those are sent again after the lease, the at-least-once window docs/campaigns.md describes. A failure keeps its
attempts on the row, with a backoff, so a retry is simply the same batch sent again.
"""

import time
from collections.abc import Sequence
from datetime import timedelta

from django.db import connection
from django.utils import timezone

from .. import conf
from ..models import Delivery

_MARK_SENT_SQL = (
    f"UPDATE {Delivery._meta.db_table} SET status = 'sent', sent_at = %s, provider_id = %s, error = '' "  # noqa: S608
    "WHERE id = %s AND claim = %s AND status = 'sending'"
)


def _mark_sent(delivery_id: int, token: str, provider_id: str) -> None:
    """Record the provider's acceptance at once: one statement, its own commit, one round trip.

    On PostgreSQL that commit does not wait for the WAL flush (`synchronous_commit` off for this transaction
    only, set in the same statement): once the server has it, a worker killed a moment later cannot lose it;
    only a crash of the database server itself could forget the last fraction of a second of these marks (sent
    again after its recovery). CAMPAIGN_SENT_MARK_SYNCHRONOUS=1 waits for the flush too (half the speed here)."""
    params = [connection.ops.adapt_datetimefield_value(timezone.now()), provider_id[:200], delivery_id, token]
    sql = _MARK_SENT_SQL
    if connection.vendor == "postgresql" and not conf.sent_mark_synchronous():
        # set_config(..., is_local => true) lasts for this statement's own transaction (autocommit).
        sql += " AND set_config('synchronous_commit', 'off', true) IS NOT NULL"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


class _SentMarks:
    """Accepted messages recorded `limit` at a time: one UPDATE (its own commit, not waiting for the WAL flush
    like `_mark_sent`) for a group instead of one per message. A group is written when it is full, when its
    oldest message was accepted `max_age` seconds ago, when the SMTP server makes the sender wait (the
    pipelined client's `on_wait`) and at the end of the batch. A worker killed between an acceptance and the
    write of its group leaves up to `limit` accepted messages in `sending`: sent again after the lease (the
    window docs/campaigns.md describes)."""

    def __init__(self, token: str, *, limit: int, max_age: float = 0.1):
        self.token = token
        self.limit = max(limit, 1)
        self.max_age = max_age
        self.ids: list[int] = []
        self.provider_ids: list[str] = []
        self.oldest = 0.0

    def add(self, delivery_id: int, provider_id: str) -> None:
        if not self.ids:
            self.oldest = time.monotonic()
        self.ids.append(delivery_id)
        self.provider_ids.append(provider_id[:200])
        if len(self.ids) >= self.limit or time.monotonic() - self.oldest >= self.max_age:
            self.flush()

    def flush(self) -> None:
        if not self.ids:
            return
        ids, provider_ids = self.ids, self.provider_ids
        self.ids, self.provider_ids = [], []
        if len(ids) == 1 or connection.vendor != "postgresql":
            for delivery_id, provider_id in zip(ids, provider_ids, strict=True):
                _mark_sent(delivery_id, self.token, provider_id)
            return
        sql = _MARK_SENT_MANY_SQL
        if not conf.sent_mark_synchronous():
            sql += " AND set_config('synchronous_commit', 'off', true) IS NOT NULL"
        params = [connection.ops.adapt_datetimefield_value(timezone.now()), ids, provider_ids, self.token]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


_MARK_SENT_MANY_SQL = (
    f"UPDATE {Delivery._meta.db_table} AS d SET status = 'sent', sent_at = %s, provider_id = v.provider_id, "  # noqa: S608
    "error = '' FROM unnest(%s::bigint[], %s::text[]) AS v(id, provider_id) "
    "WHERE d.id = v.id AND d.claim = %s AND d.status = 'sending'"
)


def _retry_delay(attempts: int) -> float:
    return conf.retry_base_seconds() * (2 ** max(attempts - 1, 0))


def _mark_failed_attempt(deliveries: Sequence[Delivery], token: str, reason: str, *, permanent: bool = False) -> float:
    """Back to `queued` with a later next attempt, or `failed` with the reason after the last attempt.
    Returns the shortest delay until a retry (0 when none is due)."""
    now = timezone.now()
    soonest = 0.0
    for delivery in deliveries:
        if permanent or delivery.attempts >= conf.max_attempts():
            changes = {"status": Delivery.Status.FAILED, "error": reason[:300], "lease_until": None}
        else:
            delay = _retry_delay(delivery.attempts)
            soonest = delay if not soonest else min(soonest, delay)
            changes = {
                "status": Delivery.Status.QUEUED,
                "error": reason[:300],
                "next_attempt_at": now + timedelta(seconds=delay),
                "lease_until": None,
            }
        Delivery.objects.filter(pk=delivery.pk, claim=token, status=Delivery.Status.SENDING).update(**changes)
    return soonest
