"""Analytics tasks: the nightly snapshot and the staff's refresh, both through one service."""

from datetime import date

from celery import shared_task

from analytics.services import analytics_refresh


@shared_task(acks_late=True)
def analytics_snapshot_task(
    date_from: str | None = None, date_to: str | None = None, store: str = "", segment: int = 0
) -> int:
    """Recompute this month's member scores and the dashboard for the range (default: the last 30 days).

    Idempotent: each run replaces the month's scores and the range's snapshot. Returns the snapshot id.
    """
    snapshot = analytics_refresh(
        date_from=date.fromisoformat(date_from) if date_from else None,
        date_to=date.fromisoformat(date_to) if date_to else None,
        store=store,
        segment=int(segment or 0),
    )
    return snapshot.pk
