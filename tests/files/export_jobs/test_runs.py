"""Exports over time: cleanup of old files, queries that do not grow, progress per chunk, one run at a time."""

import os
import re
import time
from datetime import timedelta

from django.contrib.admin.models import LogEntry
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from loyalty_site.files import exports
from loyalty_site.files.exports import EXPORT_FLAG, export_files_cleanup, export_job_create
from loyalty_site.files.models import ExportJob
from loyalty_site.files.tasks import export_files_cleanup_task, export_job_run
from members.models import Member
from rewards.services import points_earn

from .support import download_url, job_url, stored_files


def test_the_cleanup_deletes_files_older_than_seven_days_and_keeps_the_jobs(
    admin_client_, staff_user, krakow_and_lodz, settings
):
    old, recent = (
        export_job_create(user=staff_user, model=Member, filters="", file_format="csv", personal_data=True)
        for _ in range(2)
    )
    export_job_run(old.pk)
    export_job_run(recent.pk)
    ExportJob.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=7, minutes=1))
    ExportJob.objects.filter(pk=recent.pk).update(finished_at=timezone.now() - timedelta(days=6))
    old.refresh_from_db()
    recent.refresh_from_db()
    orphan = default_storage.save("exports/2020/01/member-left-behind.csv", ContentFile(b"x"))
    eight_days_ago = time.time() - 8 * 24 * 3600
    os.utime(default_storage.path(orphan), (eight_days_ago, eight_days_ago))
    forgotten = export_job_create(user=staff_user, model=Member, filters="", file_format="csv", personal_data=True)
    ExportJob.objects.filter(pk=forgotten.pk).update(created_at=timezone.now() - timedelta(days=8))

    assert export_files_cleanup_task.apply().get() == 2

    assert not default_storage.exists(old.file.name) and not default_storage.exists(orphan)
    assert default_storage.exists(recent.file.name)
    assert stored_files(settings.MEDIA_ROOT) == [recent.file.name]
    old.refresh_from_db()
    assert (old.status, old.file.name, old.total_rows) == ("done", "", 30)
    assert admin_client_.get(download_url(old)).status_code == 404
    assert "The file was deleted 7 days after it was made" in admin_client_.get(job_url(old)).content.decode()
    assert admin_client_.get(download_url(recent)).status_code == 200
    forgotten.refresh_from_db()
    assert forgotten.status == "failed" and "never finished" in forgotten.error_message
    assert export_files_cleanup() == 0


def test_the_task_runs_the_same_queries_for_more_rows(staff_user, make_member, program, tiers):
    def queries_for(count: int) -> int:
        for n in range(count):
            points_earn(member=make_member(), points=5, reason="x", idempotency_key=f"rows-{count}-{n}")
        job = export_job_create(user=staff_user, model=Member, filters="", file_format="xlsx", personal_data=True)
        with CaptureQueriesContext(connection) as queries:
            export_job_run(job.pk)
        job.refresh_from_db()
        assert job.status == "done", job.error_message
        return len(queries)

    few = queries_for(3)
    assert queries_for(40) == few  # 43 members now
    assert few <= 20


def test_the_task_reports_progress_every_chunk(staff_user, krakow_and_lodz, monkeypatch):
    monkeypatch.setattr(exports, "EXPORT_CHUNK_ROWS", 7)
    job = export_job_create(user=staff_user, model=Member, filters="", file_format="csv", personal_data=True)

    with CaptureQueriesContext(connection) as queries:
        export_job_run(job.pk)

    progress = [
        int(found)
        for query in queries.captured_queries
        if query["sql"].startswith('UPDATE "members_exportjob"')
        for found in re.findall(r'"written_rows" = (\d+)', query["sql"])
    ]
    assert progress == [0, 7, 14, 21, 28, 30]  # claimed, every chunk, done
    job.refresh_from_db()
    assert (job.written_rows, job.total_rows, job.progress_percent) == (30, 30, 100)


def test_the_list_of_exports_is_read_only(admin_client_, staff_user):
    job = export_job_create(user=staff_user, model=Member, filters="", file_format="csv", personal_data=True)

    page = admin_client_.get(reverse("admin:files_exportjob_changelist"))

    assert page.status_code == 200 and "Members" in page.content.decode()
    assert admin_client_.post(job_url(job), {}).status_code == 405
    assert admin_client_.get(reverse("admin:files_exportjob_add")).status_code == 403
    assert admin_client_.get(reverse("admin:files_exportjob_delete", args=[job.pk])).status_code == 403


def test_a_second_delivery_leaves_a_running_export_alone_and_takes_over_a_dead_one(staff_user, krakow_and_lodz):
    job = export_job_create(user=staff_user, model=Member, filters="", file_format="csv", personal_data=True)
    ExportJob.objects.filter(pk=job.pk).update(status="running", claim="alive", heartbeat_at=timezone.now())

    assert export_job_run(job.pk).status == "running"  # its worker reported a moment ago
    job.refresh_from_db()
    assert (job.claim, job.file.name) == ("alive", "")

    ExportJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    done = export_job_run(job.pk)  # silent for 11 minutes: its worker died

    assert done.status == "done" and done.written_rows == 30
    assert done.claim not in ("", "alive")
    assert LogEntry.objects.filter(action_flag=EXPORT_FLAG).count() == 1


def test_a_run_that_lost_its_export_records_nothing(staff_user, krakow_and_lodz, monkeypatch, settings):
    job = export_job_create(user=staff_user, model=Member, filters="", file_format="csv", personal_data=True)
    real = exports.write_csv

    def taken_over_meanwhile(target, *, headers, rows):
        real(target, headers=headers, rows=rows)
        ExportJob.objects.filter(pk=job.pk).update(claim="another-run")

    monkeypatch.setattr(exports, "write_csv", taken_over_meanwhile)
    left = export_job_run(job.pk)

    assert (left.status, left.claim, left.file.name) == ("running", "another-run", "")
    assert not LogEntry.objects.filter(action_flag=EXPORT_FLAG).exists()
    assert [files for _, _, files in os.walk(settings.MEDIA_ROOT) if files] == []  # its file deleted
