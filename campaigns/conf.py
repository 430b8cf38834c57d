"""Sending settings, read from Django settings or the environment (the worker and the tests share them)."""

import os

from django.conf import settings


def _setting(name: str, default: str) -> str:
    return str(getattr(settings, name, os.environ.get(name, default)))


def batch_size() -> int:
    """Recipients per send task: rendered and sent over one SMTP connection."""
    return int(_setting("CAMPAIGN_BATCH_SIZE", "500"))


def lease_seconds() -> int:
    """How long a claimed delivery belongs to its sender; after that a sweep may claim it again."""
    return int(_setting("CAMPAIGN_LEASE_SECONDS", "300"))


def max_attempts() -> int:
    return int(_setting("CAMPAIGN_MAX_ATTEMPTS", "4"))


def retry_base_seconds() -> float:
    """First retry after this many seconds, then twice as long each time."""
    return float(_setting("CAMPAIGN_RETRY_BASE_SECONDS", "60"))


def site_url() -> str:
    """Where unsubscribe and tracking links point (no trailing slash)."""
    return _setting("SITE_URL", "http://localhost:8000").rstrip("/")


def sent_mark_synchronous() -> bool:
    """Whether marking a message sent waits for PostgreSQL's WAL flush (see sending.outcomes._mark_sent)."""
    return _setting("CAMPAIGN_SENT_MARK_SYNCHRONOUS", "0").lower() in ("1", "true", "yes", "on")


def sent_mark_group() -> int:
    """Accepted messages recorded per UPDATE on the pipelined SMTP path (sending.outcomes._SentMarks): fewer statements,
    and up to this many messages sent twice if the worker dies between the acceptance and the write."""
    return int(_setting("CAMPAIGN_SENT_MARK_GROUP", "32"))
