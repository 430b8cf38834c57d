"""Background exports: a long list becomes a job, written by the task with the changelist's rows, downloaded later."""

import csv
import io
import logging
import os
import re
import time
from datetime import timedelta

import openpyxl
import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from openpyxl.worksheet._writer import ALL_TEMP_FILES as openpyxl_temporary_files

from loyalty_site.files import exports
from loyalty_site.files.exports import EXPORT_FLAG, SafeExportResource, export_files_cleanup, export_job_create
from loyalty_site.files.models import ExportJob
from loyalty_site.files.tasks import export_files_cleanup_task, export_job_run, export_job_task
from members.models import Member
from rewards.services import points_earn

MEMBER_EXPORT = "admin:members_member_export"
MEMBER_CHANGELIST = "admin:members_member_changelist"
LEDGER_EXPORT = "admin:rewards_ledgerentry_export"
KRAKOW = "?city=Krak%C3%B3w"
FORMULAS = {
    "last_name": '=HYPERLINK("http://x","y")',
    "city": "+48 1",
    "first_name": "-2+3",
    "postal_code": "@SUM(1)",
}


@pytest.fixture(autouse=True)
def _media_language_threshold(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # The texts asserted are the English sources; whether a Polish catalogue translates them is not tested here.
    settings.LANGUAGE_CODE = "en"
    settings.EXPORT_BACKGROUND_ROWS = 10


@pytest.fixture
def admin_client_(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def make_staff(db):
    """A staff user in one of the roles from rewards/0003_staff_roles (or none)."""

    def make(username: str, role: str | None = None):
        user = get_user_model().objects.create_user(username=username, is_staff=True)
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    return make


def logged_in(user) -> Client:
    """A client of its own, so two staff members can be logged in at once."""
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def krakow_and_lodz(make_member):
    """30 members: 15 in Kraków, 15 in Łódź."""
    for n in range(15):
        make_member(city="Kraków", last_name=f"Nowak{n}")
        make_member(city="Łódź", last_name=f"Wójcik{n}")


def form_data(client, url: str, file_format: str, columns: list[str] | None = None) -> dict:
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["form"]
    formats = {title: value for value, title in form.fields["format"].choices if value != ""}
    data = {"format": formats[file_format], "resource": "0"}
    for name, field in form.fields.items():
        # A column's box is named "<resource class>_<field>", e.g. memberpointsresource_city.
        if getattr(field, "is_selectable_field", False) and (columns is None or name.split("_", 1)[1] in columns):
            data[name] = "on"
    return data


def submit_export(client, url_name: str, query: str = "", file_format: str = "csv", columns=None):
    """Open the export page of a changelist (with its query string) and submit it as staff would."""
    url = reverse(url_name) + query
    return client.post(url, form_data(client, url, file_format, columns))


def run_queued(callbacks) -> None:
    for callback in callbacks:
        callback()


def job_url(job) -> str:
    return reverse("admin:files_exportjob_change", args=[job.pk])


def download_url(job) -> str:
    return reverse("admin:files_exportjob_download", args=[job.pk])


def content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def csv_rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def xlsx_rows(data: bytes) -> list[dict]:
    """Each data row as {header: openpyxl cell}, so tests can check both value and type."""
    rows = list(openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows())
    headers = [cell.value for cell in rows[0]]
    return [dict(zip(headers, row, strict=True)) for row in rows[1:]]


def exported_numbers(data: bytes, file_format: str) -> list[str]:
    if file_format == "csv":
        return [row["member_number"] for row in csv_rows(data)]
    return [cells["member_number"].value for cells in xlsx_rows(data)]


def export_in_background(client, django_capture_on_commit_callbacks, url_name=MEMBER_EXPORT, query="", **kwargs):
    """Submit a long export, check it became a queued job, run its task and return the job."""
    with django_capture_on_commit_callbacks() as sent:
        response = submit_export(client, url_name, query, **kwargs)
    job = ExportJob.objects.latest("id")
    assert response.status_code == 302 and response["Location"] == job_url(job)
    assert job.status == ExportJob.Status.QUEUED and not job.file and len(sent) == 1
    run_queued(sent)
    job.refresh_from_db()
    return job


def stored_files(root) -> list[str]:
    folder = root / "exports"
    return (
        sorted(str(path.relative_to(root)) for path in folder.rglob("*") if path.is_file()) if folder.exists() else []
    )


# --- A long list becomes a job ---------------------------------------------------------------------


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_a_long_list_is_exported_by_a_job_with_the_rows_the_filtered_changelist_shows(
    admin_client_, krakow_and_lodz, eager_celery, django_capture_on_commit_callbacks, file_format
):
    job = export_in_background(admin_client_, django_capture_on_commit_callbacks, query=KRAKOW, file_format=file_format)

    assert (job.status, job.total_rows, job.written_rows, job.error_message) == ("done", 15, 15, "")
    assert (job.model_label, job.filters, job.file_format, job.personal_data) == (
        "members.member",
        "city=Krak%C3%B3w",
        file_format,
        True,
    )
    changelist = admin_client_.get(reverse(MEMBER_CHANGELIST) + KRAKOW).context["cl"]
    shown = [member.member_number for member in changelist.result_list]
    assert len(shown) == 15
    response = admin_client_.get(download_url(job))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="member-')
    assert exported_numbers(content(response), file_format) == shown


def test_the_submit_says_the_file_is_prepared_in_the_background(
    admin_client_, krakow_and_lodz, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks():
        response = submit_export(admin_client_, MEMBER_EXPORT, KRAKOW)

    assert any("more than 10 rows" in str(message) for message in get_messages(response.wsgi_request))
    page = admin_client_.get(response["Location"]).content.decode()
    assert 'hx-trigger="every 1s"' in page and "Kraków" in page


def test_a_short_list_is_still_exported_in_the_request(admin_client_, make_member):
    for _ in range(10):
        make_member()

    response = submit_export(admin_client_, MEMBER_EXPORT)

    assert response.status_code == 200 and len(csv_rows(response.content)) == 10
    assert not ExportJob.objects.exists()


def test_the_export_form_says_when_a_list_goes_to_the_background(admin_client_):
    page = admin_client_.get(reverse(MEMBER_EXPORT))

    assert "more than 10 rows is prepared in the background" in page.content.decode()


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_the_background_file_is_the_file_a_short_export_gives(
    admin_client_, krakow_and_lodz, eager_celery, django_capture_on_commit_callbacks, settings, file_format
):
    job = export_in_background(admin_client_, django_capture_on_commit_callbacks, query=KRAKOW, file_format=file_format)
    background = content(admin_client_.get(download_url(job)))

    settings.EXPORT_BACKGROUND_ROWS = 1000
    in_request = submit_export(admin_client_, MEMBER_EXPORT, KRAKOW, file_format).content

    if file_format == "csv":
        assert background == in_request
    else:
        # The zip's timestamps differ; every cell's value and type must not.
        def cells(data):
            return [[(cell.value, cell.data_type) for cell in row.values()] for row in xlsx_rows(data)]

        assert cells(background) == cells(in_request)
        workbook = openpyxl.load_workbook(io.BytesIO(background))
        assert workbook.active.title == "members"


def test_the_columns_chosen_on_the_form_are_the_columns_of_the_file(
    admin_client_, krakow_and_lodz, eager_celery, django_capture_on_commit_callbacks
):
    job = export_in_background(
        admin_client_, django_capture_on_commit_callbacks, columns=["member_number", "city", "balance"]
    )

    (first, *_rest) = rows = csv_rows(content(admin_client_.get(download_url(job))))
    assert job.columns == ["member_number", "city", "balance"]
    assert list(first) == ["member_number", "city", "balance"] and len(rows) == 30


def test_the_ledger_export_follows_its_search_in_the_background(
    admin_client_, make_member, program, eager_celery, django_capture_on_commit_callbacks
):
    first, second = make_member(), make_member()
    for n in range(12):
        points_earn(member=first, points=n + 1, reason="-1+1", idempotency_key=f"bg-ledger-a{n}")
        points_earn(member=second, points=100, reason="b", idempotency_key=f"bg-ledger-b{n}")

    job = export_in_background(
        admin_client_,
        django_capture_on_commit_callbacks,
        LEDGER_EXPORT,
        f"?q={first.member_number}",
        file_format="xlsx",
    )

    rows = xlsx_rows(content(admin_client_.get(download_url(job))))
    assert {cells["member_number"].value for cells in rows} == {first.member_number}
    assert sorted(cells["points"].value for cells in rows) == list(range(1, 13))  # numbers stay numbers
    assert {cells["reason"].value for cells in rows} == {"'-1+1"}
    assert job.personal_data is False and not LogEntry.objects.filter(action_flag=EXPORT_FLAG).exists()


# --- Formula cells ---------------------------------------------------------------------------------


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_formula_cells_are_neutralised_in_background_files(
    admin_client_, make_member, eager_celery, django_capture_on_commit_callbacks, file_format
):
    for _ in range(12):
        make_member(**FORMULAS)

    job = export_in_background(admin_client_, django_capture_on_commit_callbacks, file_format=file_format)

    data = content(admin_client_.get(download_url(job)))
    if file_format == "csv":
        rows = csv_rows(data)
        assert len(rows) == 12
        for row in rows:
            assert all(row[column] == "'" + value for column, value in FORMULAS.items())
            assert row["phone"].startswith("'+48")
    else:
        rows = xlsx_rows(data)
        assert len(rows) == 12
        for cells in rows:
            assert all(cells[column].value == "'" + value for column, value in FORMULAS.items())
            assert all(cell.data_type != "f" for cell in cells.values())


# --- The record of exports -------------------------------------------------------------------------


def test_a_background_export_of_personal_data_is_recorded_once_like_a_short_one(
    admin_client_, staff_user, krakow_and_lodz, eager_celery, django_capture_on_commit_callbacks, caplog
):
    caplog.set_level(logging.INFO, logger="loyalty.exports")

    job = export_in_background(admin_client_, django_capture_on_commit_callbacks, query=KRAKOW, file_format="xlsx")
    export_job_run(job.pk)  # a redelivered task does nothing twice
    export_job_task.apply(args=[job.pk])

    (entry,) = LogEntry.objects.filter(action_flag=EXPORT_FLAG)
    assert (entry.user_id, entry.content_type.model_class(), entry.object_id) == (staff_user.pk, Member, None)
    assert entry.change_message.startswith("Exported 15 rows as XLSX. Filters: city=Krak%C3%B3w.")
    (record,) = [r for r in caplog.records if r.name == "loyalty.exports"]
    assert (record.export_model, record.export_rows, record.export_format) == ("members.Member", 15, "XLSX")
    assert record.export_filters == "city=Krak%C3%B3w" and record.export_personal_data is True


# --- Permissions -----------------------------------------------------------------------------------


def test_staff_without_the_personal_data_permission_get_403_and_no_job_and_404_on_others_files(
    make_staff, staff_user, krakow_and_lodz
):
    client = logged_in(make_staff("analyst", "Analyst"))

    assert client.get(reverse(MEMBER_EXPORT)).status_code == 403
    assert client.post(reverse(MEMBER_EXPORT), {"format": "0", "resource": "0"}).status_code == 403
    assert not ExportJob.objects.exists()

    job = export_job_run(
        export_job_create(user=staff_user, model=Member, filters="", file_format="csv", personal_data=True).pk
    )
    assert job.status == "done"
    assert client.get(download_url(job)).status_code == 404
    assert client.get(job_url(job)).status_code == 404


def test_others_get_404_on_someones_export_and_a_superuser_may_download_it(
    admin_client_, make_staff, krakow_and_lodz, eager_celery, django_capture_on_commit_callbacks
):
    job = export_in_background(admin_client_, django_capture_on_commit_callbacks)

    support = logged_in(make_staff("support", "Support"))
    assert support.get(download_url(job)).status_code == 404
    assert support.get(job_url(job)).status_code == 404
    assert support.get(job_url(job), HTTP_HX_REQUEST="true").status_code == 404
    listed = support.get(reverse("admin:files_exportjob_changelist")).context["cl"].result_list
    assert list(listed) == []

    support_job = export_in_background(support, django_capture_on_commit_callbacks)
    assert support_job.created_by.username == "support"
    assert support.get(download_url(support_job)).status_code == 200
    assert admin_client_.get(download_url(support_job)).status_code == 200
    listed = admin_client_.get(reverse("admin:files_exportjob_changelist")).context["cl"].result_list
    assert {j.pk for j in listed} == {job.pk, support_job.pk}
    listed = support.get(reverse("admin:files_exportjob_changelist")).context["cl"].result_list
    assert [j.pk for j in listed] == [support_job.pk]


def test_the_download_asks_for_the_personal_data_permission_again(
    make_staff, krakow_and_lodz, eager_celery, django_capture_on_commit_callbacks
):
    user = make_staff("support", "Support")
    client = logged_in(user)
    job = export_in_background(client, django_capture_on_commit_callbacks)
    assert client.get(download_url(job)).status_code == 200

    user.groups.clear()
    user.user_permissions.add(Permission.objects.get(codename="view_member"))

    assert client.get(job_url(job)).status_code == 200
    assert client.get(download_url(job)).status_code == 403


def test_the_task_refuses_a_user_who_lost_the_permission_since(
    make_staff, krakow_and_lodz, django_capture_on_commit_callbacks
):
    user = make_staff("support", "Support")
    client = logged_in(user)
    with django_capture_on_commit_callbacks():
        submit_export(client, MEMBER_EXPORT)
    job = ExportJob.objects.get()

    user.groups.clear()
    export_job_task.apply(args=[job.pk])

    job.refresh_from_db()
    assert job.status == "failed" and "may no longer export this list" in job.error_message
    assert not job.file and not LogEntry.objects.filter(action_flag=EXPORT_FLAG).exists()


# --- The job page ----------------------------------------------------------------------------------


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


# --- Cleanup ---------------------------------------------------------------------------------------


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


# --- Queries and the list of exports ---------------------------------------------------------------


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


# --- One run at a time -----------------------------------------------------------------------------


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
