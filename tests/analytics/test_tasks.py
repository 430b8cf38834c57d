"""The nightly task is scheduled and, run twice, leaves one snapshot and one set of scores."""

import pytest
from django.conf import settings

from analytics.models import DashboardSnapshot, MemberScore
from analytics.tasks import analytics_snapshot_task


def test_the_nightly_snapshot_is_in_the_beat_schedule():
    entry = settings.CELERY_BEAT_SCHEDULE["analytics-snapshot"]
    assert entry["task"] == "analytics.tasks.analytics_snapshot_task"


@pytest.mark.django_db
def test_the_task_is_idempotent(history):
    first = analytics_snapshot_task()
    second = analytics_snapshot_task()
    assert first == second
    assert DashboardSnapshot.objects.count() == 1
    assert MemberScore.objects.count() == 3
