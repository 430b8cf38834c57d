"""The export job's page: progress, waiting, failures in words, and the read-only list of exports."""

from datetime import timedelta

from django.contrib.admin.models import LogEntry
from django.utils import timezone
from openpyxl.worksheet._writer import ALL_TEMP_FILES as openpyxl_temporary_files

from loyalty_site.files.exports import EXPORT_FLAG, SafeExportResource, export_job_create
from loyalty_site.files.models import ExportJob
from loyalty_site.files.tasks import export_job_run, export_job_task
from members.models import Member

from .support import MEMBER_EXPORT, download_url, job_url, stored_files, submit_export


def test_the_progress_endpoint_renders_and_ends_with_the_download_link(
    admin_client_, krakow_and_lodz, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        submit_export(admin_client_, MEMBER_EXPORT)
    job = ExportJob.objects.get()

    page = admin_client_.get(job_url(job))
    assert page.status_code == 200
    text = page.content.decode()
    assert "htmx" in text and "x-csrftoken" in text and 'id="export-progress"' in text
    fragment = admin_client_.get(job_url(job), {"from": "queued"}, HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and "HX-Refresh" not in fragment
    text = fragment.content.decode()
    assert text.startswith('<div id="export-progress"') and 'hx-trigger="every 1s"' in text and "Waiting" in text

    ExportJob.objects.filter(pk=job.pk).update(status="running", total_rows=30, written_rows=12)
    text = admin_client_.get(job_url(job), {"from": "queued"}, HTTP_HX_REQUEST="true").content.decode()
    assert "12 of 30 rows written" in text and 'value="40"' in text

    export_job_run(job.pk)
    done = admin_client_.get(job_url(job), {"from": "running"}, HTTP_HX_REQUEST="true")
    assert done["HX-Refresh"] == "true"
    text = done.content.decode()
    assert "every 1s" not in text and download_url(job) in text and "30 rows exported" in text


def test_a_job_still_waiting_after_a_minute_says_to_check_the_worker(admin_client_, staff_user):
    job = export_job_create(user=staff_user, model=Member, filters="", file_format="csv", personal_data=True)
    ExportJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(minutes=2))

    text = admin_client_.get(job_url(job), HTTP_HX_REQUEST="true").content.decode()

    assert "background worker (Celery) is running" in text


def test_a_failing_task_marks_the_job_failed_with_a_message_and_no_traceback(
    admin_client_, staff_user, krakow_and_lodz, monkeypatch, caplog, settings
):
    job = export_job_create(user=staff_user, model=Member, filters="", file_format="xlsx", personal_data=True)

    def broken(self, field, instance, **kwargs):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(SafeExportResource, "export_field", broken)
    temporary_files = list(openpyxl_temporary_files)
    export_job_task.apply(args=[job.pk])

    job.refresh_from_db()
    assert job.status == "failed" and job.finished_at is not None
    assert job.error_message.startswith("The export stopped unexpectedly, so the file was not made.")
    assert "database hiccup" in caplog.text  # the traceback is logged ...
    page = admin_client_.get(job_url(job)).content.decode()
    assert "database hiccup" not in page and "Traceback" not in page  # ... and never shown
    assert job.error_message in page
    assert not job.file and stored_files(settings.MEDIA_ROOT) == []
    assert openpyxl_temporary_files == temporary_files  # the half-written sheet is removed, not left to the worker
    assert admin_client_.get(download_url(job)).status_code == 404
    assert not LogEntry.objects.filter(action_flag=EXPORT_FLAG).exists()


def test_filters_that_no_longer_apply_fail_the_job_with_a_message(staff_user, krakow_and_lodz):
    job = export_job_create(
        user=staff_user, model=Member, filters="no_such_field=1", file_format="csv", personal_data=True
    )

    export_job_run(job.pk)

    job.refresh_from_db()
    assert job.status == "failed" and "no longer fit the list" in job.error_message


def test_when_the_broker_is_down_the_job_fails_with_a_message(
    admin_client_, krakow_and_lodz, monkeypatch, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(export_job_task, "delay_on_commit", broker_down)
    response = submit_export(admin_client_, MEMBER_EXPORT)

    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job_url(job)
    assert job.status == "failed" and "background worker could not be reached" in job.error_message
    assert "Connection refused" not in admin_client_.get(job_url(job)).content.decode()
