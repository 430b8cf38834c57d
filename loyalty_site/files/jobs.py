"""Which task run owns a background job (an import's preview, an export): one at a time.

Celery may deliver a task twice: with late acknowledgement a task still running when the broker's
visibility timeout passes is handed to a second worker, and a worker that died leaves its task to be
delivered again. The second run must take over a job whose worker died, but never run beside a live one.

So a run claims the job with a random token and beats (saves progress with a timestamp) while it works.
Another run takes the job over only when it is queued, or when its last beat is older than STALE_AFTER.
Every later write of the first run is made only while it still holds the job; a run that lost it stops
(`JobSuperseded`) without touching the job again.
"""

import secrets
from datetime import timedelta

from django.db import models
from django.db.models import Q
from django.utils import timezone

# Runs beat at least every chunk (seconds apart); a job not heard from in this long has lost its worker.
STALE_AFTER = timedelta(minutes=10)


class JobSuperseded(Exception):
    """Another run took the job over: this one must stop and leave the job to it."""


def job_claim(model: type[models.Model], pk: int, *, queued: str, running: str, now=None, **fields) -> str | None:
    """Take the job for this run and set it running (with `fields`). Returns the run's token, or None
    when the job is not queued and another run beat it less than STALE_AFTER ago, or it has moved on."""
    now = now or timezone.now()
    token = secrets.token_hex(16)
    takeable = Q(status=queued) | Q(status=running) & (Q(heartbeat_at__lt=now - STALE_AFTER) | Q(heartbeat_at=None))
    claimed = (
        model.objects.filter(pk=pk).filter(takeable).update(status=running, claim=token, heartbeat_at=now, **fields)
    )
    return token if claimed else None


def job_beat(model: type[models.Model], pk: int, token: str, **fields) -> None:
    """Save progress while this run holds the job; raise JobSuperseded when another run took it over.
    Inside a transaction, the job's row stays locked until it commits, so what the run writes with the
    beat cannot land after a takeover."""
    if not model.objects.filter(pk=pk, claim=token).update(heartbeat_at=timezone.now(), **fields):
        raise JobSuperseded
