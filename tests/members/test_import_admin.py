"""Imports in the staff admin: upload, preview, errors, confirm, background tasks, HTMX progress, permissions."""

import html
import io
import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from loyalty_site.files import import_forms, importing
from loyalty_site.files.importing import Column, Outcome, import_job_create, import_preview
from loyalty_site.files.models import ImportJob, ImportRowError
from loyalty_site.files.tasks import import_apply_task, import_preview_task
from members import resources
from members.forms import mask_phone
from members.models import ConsentEvent, ConsentText, Member, Purchase

UPLOAD = "admin:files_importjob_upload"
CHANGELIST = "admin:files_importjob_changelist"
HEADER = "member_number;first_name;last_name;email;phone;city;consent_email_marketing"
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(autouse=True)
def _media_and_language(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # The texts asserted are the English sources; whether a Polish catalogue translates them is not tested here.
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def consent_text(db):
    return ConsentText.objects.create(channel="email", purpose="marketing", version="1.0", text="Zgoda na e-maile")


@pytest.fixture
def admin_client_(client, staff_user):
    client.force_login(staff_user)
    return client


def members_csv(n: int, bad: dict[int, str] | None = None, start: int = 0) -> bytes:
    """`n` members; `bad` maps a file line (2 = first row) to "column=value"."""
    columns = HEADER.split(";")
    lines = [HEADER]
    for i in range(start, start + n):
        row = [f"{2100000000 + i}", "Zofia", f"Wójcik{i}", f"zofia{i}@example.pl", f"60{i:07d}", "Łódź", "tak"]
        line = i - start + 2
        if bad and line in bad:
            column, value = bad[line].split("=", 1)
            row[columns.index(column)] = value
        lines.append(";".join(row))
    return ("\n".join(lines) + "\n").encode()


def upload(client, content: bytes, name: str = "czlonkowie.csv", **data):
    fields = {"kind": "members", "consent_version": "1.0", "file": SimpleUploadedFile(name, content), **data}
    return client.post(reverse(UPLOAD), fields)


def job_url(job) -> str:
    return reverse("admin:files_importjob_change", args=[job.pk])


def confirm_url(job) -> str:
    return reverse("admin:files_importjob_confirm", args=[job.pk])


def latest_job() -> ImportJob:
    return ImportJob.objects.latest("id")


def page_text(response) -> str:
    return response.content.decode()


def message_texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


# --- Upload, preview, confirm ----------------------------------------------------------------------


def test_upload_shows_the_preview_with_counts_and_imports_nothing(admin_client_, consent_text):
    response = upload(admin_client_, members_csv(5))

    job = latest_job()
    assert response.status_code == 302 and response["Location"] == job_url(job)
    assert job.status == ImportJob.Status.PREVIEWED and job.counts == {"new": 5}
    assert job.options == {"consent_version": "1.0"}
    assert Member.objects.count() == 0
    page = admin_client_.get(job_url(job))
    text = page_text(page)
    assert page.status_code == 200
    assert "czlonkowie.csv" in text and "utf-8" in text
    counts = {row["action"]: row["number"] for row in page.context["counts"]}
    assert counts == {"new": 5, "update": 0, "skip": 0, "invalid": 0}
    assert "to create" in text and "Confirm import" in text
    assert "Wójcik4" in text  # the sample rows
    assert 'hx-trigger="every 1s"' not in text  # a previewed job does not poll


def test_confirming_the_preview_imports_the_members(admin_client_, consent_text, staff_user):
    upload(admin_client_, members_csv(5))
    job = latest_job()

    response = admin_client_.post(confirm_url(job))

    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert Member.objects.count() == 5
    assert ConsentEvent.objects.filter(source="import", text=consent_text, actor=staff_user).count() == 5
    assert any("5 created" in text for text in message_texts(response))
    page = page_text(admin_client_.get(job_url(job)))
    assert "created" in page and "Confirm import" not in page


def test_a_file_with_errors_imports_nothing_until_staff_choose_the_valid_rows(admin_client_, consent_text):
    upload(admin_client_, members_csv(6, {4: "email=jan.kowalski@"}))
    job = latest_job()
    page = page_text(admin_client_.get(job_url(job)))
    assert "nothing will be imported" in page and "Import only the valid rows" in page
    assert "Confirm import" not in page
    assert "jan.kowalski@" in page and "is not an email address" in page

    refused = admin_client_.post(confirm_url(job))
    assert Member.objects.count() == 0
    assert any("nothing was imported" in text for text in message_texts(refused))

    unacknowledged = admin_client_.post(confirm_url(job), {"only_valid_rows": "1"})
    assert Member.objects.count() == 0
    assert any("Tick the box" in text for text in message_texts(unacknowledged))

    admin_client_.post(confirm_url(job), {"only_valid_rows": "1", "understood": "1"})
    job.refresh_from_db()
    assert (job.status, job.only_valid_rows, Member.objects.count()) == ("done", True, 5)


def test_staff_read_row_and_file_errors_in_polish_on_a_polish_site(admin_client_, consent_text, settings):
    settings.LANGUAGE_CODE = "pl"  # what the site runs with; the other tests here read the English sources
    upload(admin_client_, members_csv(6, {4: "email=jan.kowalski@", 6: "phone=12ab"}))
    page = html.unescape(page_text(admin_client_.get(job_url(latest_job()))))
    assert "'jan.kowalski@' nie jest adresem e-mail" in page
    assert "'12ab' nie jest numerem telefonu (np. +48601234567 lub 601 234 567)" in page
    assert "is not an email address" not in page and "is not a phone number" not in page

    upload(admin_client_, b"first_name;last_name\nJan;Nowak\n")
    page = html.unescape(page_text(admin_client_.get(job_url(latest_job()))))
    assert "Wiersz 1: brak wymaganej kolumny member_number. Kolumny w pliku: first_name, last_name." in page


def test_only_valid_rows_chosen_on_upload_lets_staff_confirm_at_once(admin_client_, consent_text):
    upload(admin_client_, members_csv(4, {2: "phone=12ab"}), only_valid_rows="on")
    job = latest_job()
    page = page_text(admin_client_.get(job_url(job)))
    assert "1 row with errors will be skipped" in page and "Confirm import" in page

    admin_client_.post(confirm_url(job))

    assert Member.objects.count() == 3


def test_a_file_that_cannot_be_read_fails_with_a_message_not_a_traceback(admin_client_, consent_text):
    upload(admin_client_, b"first_name;last_name\nJan;Nowak\n")
    job = latest_job()
    page = page_text(admin_client_.get(job_url(job)))
    assert job.status == ImportJob.Status.FAILED
    assert "member_number" in page and "Traceback" not in page
    assert "Confirm import" not in page


# --- Escaping --------------------------------------------------------------------------------------


def test_markup_in_a_cell_is_shown_as_text_on_the_page_and_in_the_report(admin_client_, consent_text):
    upload(admin_client_, members_csv(3, {2: f"email={SCRIPT}", 3: f"first_name={SCRIPT}"}), name=f"{SCRIPT}.csv")
    job = latest_job()
    assert ImportRowError.objects.filter(job=job, value=SCRIPT).exists()

    page = page_text(admin_client_.get(job_url(job)))

    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    changelist = page_text(admin_client_.get(reverse(CHANGELIST)))
    assert SCRIPT not in changelist

    report = admin_client_.get(reverse("admin:files_importjob_report", args=[job.pk]))
    assert report["Content-Type"] == "text/csv; charset=utf-8"
    assert report["Content-Disposition"].startswith("attachment;")
    assert report["X-Content-Type-Options"] == "nosniff"
    lines = b"".join(report.streaming_content).decode().lstrip("\ufeff").splitlines()
    assert lines[0] == "line;column;value;message"
    assert lines[1].startswith(f"2;email;{SCRIPT};")


def test_a_formula_in_the_report_is_neutralised(admin_client_, consent_text):
    upload(admin_client_, members_csv(2, {2: "email==HYPERLINK(1)"}))
    report = admin_client_.get(reverse("admin:files_importjob_report", args=[latest_job().pk]))
    assert "2;email;'=HYPERLINK(1);" in b"".join(report.streaming_content).decode()


# --- Errors, sample, template ---------------------------------------------------------------------


def test_errors_are_shown_fifty_to_a_page(admin_client_, consent_text):
    upload(admin_client_, members_csv(120, dict.fromkeys(range(2, 122), "email=bad")))
    job = latest_job()

    first = admin_client_.get(job_url(job))
    last = admin_client_.get(job_url(job), {"page": 3})

    assert [row["line"] for row in first.context["error_rows"]] == list(range(2, 52))
    assert [row["line"] for row in last.context["error_rows"]] == list(range(102, 122))
    assert "page 1 of 3" in page_text(first)
    assert len(first.context["sample"]["rows"]) == importing.SAMPLE_ROWS  # the sample stays at 50 rows


def test_errors_pages_through_htmx_as_a_fragment(admin_client_, consent_text):
    upload(admin_client_, members_csv(60, dict.fromkeys(range(2, 62), "email=bad")))
    job = latest_job()

    response = admin_client_.get(job_url(job), {"page": 2}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="import-errors")

    text = page_text(response)
    assert text.startswith('<div id="import-errors"')
    assert "<html" not in text and "import-progress" not in text
    assert [row["line"] for row in response.context["error_rows"]] == list(range(52, 62))


def test_job_page_queries_do_not_grow_with_the_file(admin_client_, consent_text, django_assert_max_num_queries):
    upload(admin_client_, members_csv(300, dict.fromkeys(range(2, 250), "email=bad")))
    with django_assert_max_num_queries(12):
        response = admin_client_.get(job_url(latest_job()))
    assert len(response.context["error_rows"]) == 50


def test_changelist_lists_jobs_with_counts(admin_client_, consent_text, django_assert_max_num_queries):
    for n in range(3):
        upload(admin_client_, members_csv(2 + n, start=10 * n), name=f"plik{n}.csv")
    with django_assert_max_num_queries(12):
        response = admin_client_.get(reverse(CHANGELIST))
    text = page_text(response)
    assert response.status_code == 200
    assert all(f"plik{n}.csv" in text for n in range(3))
    assert "new: 4</span>" in text and "Members (with consent)" in text
    assert reverse(UPLOAD) in text  # the Import button


def test_template_download_has_the_header_and_opens_in_excel(admin_client_):
    response = admin_client_.get(reverse("admin:files_importjob_template", args=["members"]))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="members-template.csv"'
    content = response.content.decode("utf-8")
    assert content.startswith("\ufeffmember_number;first_name;last_name;")
    assert "Wójcik" in content.splitlines()[1]


def test_upload_page_lists_the_columns_of_the_chosen_kind(admin_client_, consent_text):
    response = admin_client_.get(reverse(UPLOAD), {"kind": "members"})
    text = page_text(response)
    assert response.status_code == 200
    assert "member_number" in text and "consent_email_marketing" in text
    assert reverse("admin:files_importjob_template", args=["members"]) in text
    assert 'name="consent_version"' in text
    assert 'hx-headers=\'{"x-csrftoken": "' in text
    assert "htmx" in text  # the script is loaded: the admin's base template has none


def test_choosing_a_kind_swaps_in_its_columns_through_htmx(admin_client_, consent_text):
    response = admin_client_.get(reverse(UPLOAD), {"kind": "members"}, HTTP_HX_REQUEST="true")
    text = page_text(response)
    assert text.startswith('<div id="import-kind"')
    assert 'id="import-options" hx-swap-oob="true"' in text and 'name="consent_version"' in text
    assert "<html" not in text


def test_purchases_ask_for_the_source_instead_of_the_consent_version(admin_client_):
    response = admin_client_.get(reverse(UPLOAD), {"kind": "purchases"}, HTTP_HX_REQUEST="true")
    text = page_text(response)
    assert "purchase_id" in text and 'name="source"' in text and 'name="consent_version"' not in text


def test_a_purchases_file_is_imported_with_the_source_chosen_on_the_form(admin_client_, make_member, program):
    member = make_member()
    number = member.member_number
    content = "\n".join(
        [
            "purchase_id;member_number;purchased_at;amount;sku;line_amount",
            f"PAR-1;{number};01.03.2026 14:30;249,90;K-1;200,00",
            f"PAR-1;{number};01.03.2026 14:30;249,90;K-2;49,90",
        ]
    )

    upload(admin_client_, content.encode(), name="zakupy.csv", kind="purchases", source="kasa-1")
    job = latest_job()
    assert (job.status, job.counts, job.options["source"]) == ("previewed", {"new": 1, "line": 1}, "kasa-1")
    assert "further item lines of a purchase" in page_text(admin_client_.get(job_url(job)))
    admin_client_.post(confirm_url(job))

    purchase = Purchase.objects.get()
    assert (purchase.source, purchase.lines.count()) == ("kasa-1", 2)


@pytest.mark.parametrize("kind", ["members", "purchases", "refunds", "adjustments"])
def test_every_kind_of_import_has_its_page_template_and_preview(admin_client_, consent_text, kind):
    assert kind in importing.HANDLERS
    page = admin_client_.get(reverse(UPLOAD), {"kind": kind})
    template = admin_client_.get(reverse("admin:files_importjob_template", args=[kind]))
    header = template.content.decode().lstrip("\ufeff").splitlines()[0].split(";")
    assert page.status_code == 200 and all(name in page_text(page) for name in header)

    # The template's example row names a member who does not exist: the preview reports it, nothing crashes.
    upload(admin_client_, template.content, name=f"{kind}.csv", kind=kind)
    job = latest_job()
    response = admin_client_.get(job_url(job))
    assert response.status_code == 200
    assert job.status in ("previewed", "failed") and job.kind == kind


def test_admin_add_url_leads_to_the_upload_page(admin_client_):
    response = admin_client_.get(reverse("admin:files_importjob_add") + "?kind=members")
    assert response.status_code == 302 and response["Location"] == reverse(UPLOAD) + "?kind=members"


def test_staff_without_the_personal_data_permission_see_contact_details_masked(client, staff_user, consent_text):
    import_preview(job=_job_for_user(members_csv(1, {2: "phone=12ab"}), staff_user))
    clerk = get_user_model().objects.create_user(username="clerk", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="add_member"))
    client.force_login(clerk)

    response = client.get(job_url(latest_job()))

    text = page_text(response)
    assert response.status_code == 200
    assert "zofia0@example.pl" not in text and "z***@example.pl" in text
    assert [row["value"] for row in response.context["error_rows"]] == [mask_phone("12ab")]


# --- Upload validation -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["members.xls", "members.pdf", "members"])
def test_upload_refuses_files_that_are_not_csv_or_xlsx(admin_client_, consent_text, name):
    response = upload(admin_client_, members_csv(1), name=name)
    assert response.status_code == 200
    assert "is not a .csv or .xlsx file" in page_text(response)
    assert not ImportJob.objects.exists()


def test_upload_refuses_a_file_over_the_limit(admin_client_, consent_text, monkeypatch):
    monkeypatch.setattr(import_forms, "MAX_UPLOAD_BYTES", 100)
    response = upload(admin_client_, members_csv(5))
    assert "Split it into smaller files" in page_text(response)
    assert not ImportJob.objects.exists()


def test_members_upload_asks_for_the_consent_text_version(admin_client_, consent_text):
    response = upload(admin_client_, members_csv(1), consent_version="")
    assert "Choose the consent text version" in page_text(response)
    assert not ImportJob.objects.exists()


def test_an_xlsx_file_is_previewed(admin_client_, consent_text):
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for line in members_csv(3).decode().splitlines():
        sheet.append(line.split(";"))
    buffer = io.BytesIO()
    workbook.save(buffer)
    upload(admin_client_, buffer.getvalue(), name="czlonkowie.xlsx")
    job = latest_job()
    assert (job.status, job.encoding, job.counts) == ("previewed", "xlsx", {"new": 3})


# --- Background processing -------------------------------------------------------------------------


def test_a_big_file_is_previewed_and_imported_by_the_tasks(
    admin_client_, consent_text, monkeypatch, eager_celery, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(importing.uploads, "BACKGROUND_THRESHOLD_BYTES", 100)
    with django_capture_on_commit_callbacks() as sent:
        upload(admin_client_, members_csv(30))
    job = latest_job()
    assert job.status == ImportJob.Status.QUEUED and len(sent) == 1  # queued after commit, not run in the request
    queued = page_text(admin_client_.get(job_url(job)))
    assert 'hx-trigger="every 1s"' in queued
    for callback in sent:
        callback()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PREVIEWED and job.counts == {"new": 30}

    with django_capture_on_commit_callbacks() as sent:
        admin_client_.post(confirm_url(job))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.IMPORTING and Member.objects.count() == 0
    for callback in sent:
        callback()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and Member.objects.count() == 30


def test_confirming_twice_queues_the_import_once(
    admin_client_, consent_text, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(importing.uploads, "BACKGROUND_THRESHOLD_BYTES", 100)
    job = import_preview(job=_job_for(members_csv(3), admin_client_))

    with django_capture_on_commit_callbacks() as sent:
        first = admin_client_.post(confirm_url(job))
        second = admin_client_.post(confirm_url(job))

    assert first.status_code == second.status_code == 302
    assert len(sent) == 1
    assert any("already been started" in text for text in message_texts(second))


def test_when_the_broker_is_down_the_job_waits_with_a_message_and_can_be_started_again(
    admin_client_, consent_text, monkeypatch, eager_celery, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    monkeypatch.setattr(importing.uploads, "BACKGROUND_THRESHOLD_BYTES", 100)

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(import_preview_task, "delay_on_commit", broker_down)
    response = upload(admin_client_, members_csv(3))

    job = latest_job()
    assert response.status_code == 302
    assert job.status == "failed" and "background worker could not be reached" in job.error_message
    page = page_text(admin_client_.get(job_url(job)))
    assert "Connection refused" not in page and "Check the file again" in page

    monkeypatch.undo()
    monkeypatch.setattr(importing.uploads, "BACKGROUND_THRESHOLD_BYTES", 100)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_.post(confirm_url(job), {"action": "restart"})
    job.refresh_from_db()
    assert job.status == "previewed" and job.counts == {"new": 3}


def _job_for(content: bytes, client, **options) -> ImportJob:
    user = get_user_model().objects.get(pk=client.session["_auth_user_id"])
    return import_job_create(
        kind="members",
        file=SimpleUploadedFile("czlonkowie.csv", content),
        name="czlonkowie.csv",
        user=user,
        options={"consent_version": "1.0", **options},
    )


def test_tasks_do_nothing_for_a_job_that_is_done(admin_client_, consent_text):
    job = import_preview(job=_job_for(members_csv(2), admin_client_))
    import_apply_task.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.status == "done" and Member.objects.count() == 2
    finished = job.finished_at

    import_apply_task.apply(args=[job.pk])
    import_preview_task.apply(args=[job.pk])
    import_apply_task.apply(args=[999_999])

    job.refresh_from_db()
    assert (job.status, job.finished_at, Member.objects.count()) == ("done", finished, 2)


def test_an_unexpected_error_stops_the_import_with_a_message_and_it_can_continue(
    admin_client_, consent_text, monkeypatch, caplog
):
    job = import_preview(job=_job_for(members_csv(4), admin_client_))
    original = resources.MemberImport.apply

    def broken(self, outcomes, *, job):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(resources.MemberImport, "apply", broken)
    import_apply_task.apply(args=[job.pk])

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert job.error_message.startswith("The import stopped unexpectedly after 0 of 4 rows")
    assert "Start it again" in job.error_message
    assert "database hiccup" in caplog.text  # the traceback is logged ...
    page = page_text(admin_client_.get(job_url(job)))
    assert "database hiccup" not in page and "Traceback" not in page  # ... and never shown
    assert "Continue the import" in page

    monkeypatch.setattr(resources.MemberImport, "apply", original)
    admin_client_.post(confirm_url(job), {"action": "restart"})

    job.refresh_from_db()
    assert (job.status, job.error_message, Member.objects.count()) == ("done", "", 4)


def test_an_unexpected_error_in_the_preview_can_be_checked_again(admin_client_, consent_text, monkeypatch):
    job = _job_for(members_csv(2), admin_client_)
    original = resources.MemberImport.prepare
    monkeypatch.setattr(resources.MemberImport, "prepare", lambda self, rows, *, job, seen: 1 / 0)
    import_preview_task.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.status == "failed" and "nothing was imported" in job.error_message

    monkeypatch.setattr(resources.MemberImport, "prepare", original)
    admin_client_.post(confirm_url(job), {"action": "restart"})

    job.refresh_from_db()
    assert job.status == "previewed" and job.counts == {"new": 2}


# --- HTMX progress ---------------------------------------------------------------------------------


def test_htmx_request_to_the_job_page_returns_only_the_progress_fragment(admin_client_, consent_text):
    job = _job_for(members_csv(2), admin_client_)  # queued: nothing has picked it up

    response = admin_client_.get(job_url(job), {"from": "queued"}, HTTP_HX_REQUEST="true")

    text = page_text(response)
    assert response.status_code == 200
    assert text.startswith('<div id="import-progress"')
    assert "<html" not in text and "breadcrumbs" not in text
    assert 'hx-trigger="every 1s"' in text
    assert f'hx-get="{job_url(job)}?from=queued"' in text
    assert "HX-Refresh" not in response


def test_progress_fragment_stops_polling_and_reloads_the_page_when_done(admin_client_, consent_text):
    job = import_preview(job=_job_for(members_csv(2), admin_client_))
    admin_client_.post(confirm_url(job))

    response = admin_client_.get(job_url(job), {"from": "importing"}, HTTP_HX_REQUEST="true")

    text = page_text(response)
    assert 'data-status="done"' in text
    assert "hx-trigger" not in text and "hx-get" not in text
    assert response["HX-Refresh"] == "true"


def test_the_full_page_polls_while_the_file_is_being_checked(admin_client_, consent_text):
    job = _job_for(members_csv(2), admin_client_)
    ImportJob.objects.filter(pk=job.pk).update(status="previewing", previewed_rows=2000)

    text = page_text(admin_client_.get(job_url(job)))

    assert 'hx-trigger="every 1s"' in text and "2000 rows checked so far" in text
    assert "<html" in text


# --- Permissions -----------------------------------------------------------------------------------


def test_analyst_gets_403_for_imports(role_client, staff_user, consent_text):
    job = import_preview(job=_job_for_user(members_csv(2), staff_user))
    client = role_client("Analyst")

    assert client.get(reverse(UPLOAD)).status_code == 403
    assert upload(client, members_csv(2)).status_code == 403
    assert client.get(reverse("admin:files_importjob_template", args=["members"])).status_code == 403
    assert client.get(job_url(job)).status_code == 403
    assert client.post(confirm_url(job)).status_code == 403
    assert client.get(reverse("admin:files_importjob_report", args=[job.pk])).status_code == 403
    assert client.get(reverse(CHANGELIST)).status_code == 403
    assert Member.objects.count() == 0 and ImportJob.objects.count() == 1
    assert "members/importjob" not in page_text(client.get(reverse("admin:index")))


def test_programme_manager_imports_members_and_sees_others_member_imports(role_client, staff_user, consent_text):
    theirs = import_preview(job=_job_for_user(members_csv(2), staff_user))
    client = role_client("Programme manager")

    assert client.get(job_url(theirs)).status_code == 200
    upload(client, members_csv(3, start=10))
    mine = latest_job()
    assert mine.created_by == client.user and mine.status == "previewed"
    client.post(confirm_url(mine))
    assert Member.objects.count() == 3
    listed = client.get(reverse(CHANGELIST)).context["cl"].result_list
    assert {job.pk for job in listed} == {theirs.pk, mine.pk}


def test_imports_of_a_kind_are_visible_only_with_its_permission(role_client, staff_user, monkeypatch):
    monkeypatch.setitem(importing.HANDLERS, "secret", SecretImport())
    secret = _job_for_user(b"code\nA1\n", staff_user, kind="secret")
    members_job = _job_for_user(members_csv(1), staff_user)
    client = role_client("Programme manager")

    listed = client.get(reverse(CHANGELIST)).context["cl"].result_list
    assert [job.pk for job in listed] == [members_job.pk]
    assert client.get(job_url(secret)).status_code == 403
    assert client.get(reverse("admin:files_importjob_report", args=[secret.pk])).status_code == 403
    assert client.post(confirm_url(secret)).status_code == 403
    assert client.get(reverse(UPLOAD), {"kind": "secret"}).status_code == 403
    choices = dict(client.get(reverse(UPLOAD)).context["form"].fields["kind"].choices)
    assert "members" in choices and "secret" not in choices
    refused = upload(client, b"code\nA1\n", kind="secret")
    assert refused.status_code == 200 and "secret is not one of the available choices" in page_text(refused)


def test_support_without_add_member_cannot_import_members(role_client, staff_user):
    job = _job_for_user(members_csv(1), staff_user)
    client = role_client("Support")
    assert client.get(reverse(UPLOAD), {"kind": "members"}).status_code == 403
    assert client.get(job_url(job)).status_code == 403


class SecretImport(importing.ImportHandler):
    """A kind of import no role holds the permission for (only superusers)."""

    kind = "secret"
    label = "Secret things"
    permission = "members.delete_member"
    columns = [Column("code", required=True)]

    def prepare(self, rows, *, job, seen):
        return [Outcome(line=row.line, action="new") for row in rows]

    def apply(self, outcomes, *, job):
        pass


def _job_for_user(content: bytes, user, kind: str = "members") -> ImportJob:
    return import_job_create(
        kind=kind,
        file=SimpleUploadedFile("plik.csv", content),
        name="plik.csv",
        user=user,
        options={"consent_version": "1.0"} if kind == "members" else {},
    )


# --- A real worker ---------------------------------------------------------------------------------

BROKER = os.environ.get("CELERY_BROKER_URL", "")


@pytest.mark.concurrency
@pytest.mark.skipif(not BROKER.startswith("redis://"), reason="needs the Redis broker scripts/test.sh starts")
def test_a_real_worker_previews_and_imports_a_big_file(transactional_db, client, settings, tmp_path, monkeypatch):
    """The upload and confirm queue tasks; a `celery worker` process against the test database runs them."""
    from kombu.exceptions import VersionMismatch

    from loyalty_site.celery import app

    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1)
    except VersionMismatch as exc:
        pytest.fail(f"Celery cannot talk to Redis, so no background import would ever run: {exc}")
    user = get_user_model().objects.create_superuser(username="worker-admin", password="x", email="w@example.pl")
    ConsentText.objects.create(channel="email", purpose="marketing", version="1.0", text="Zgoda")
    client.force_login(user)
    monkeypatch.setattr(importing.uploads, "BACKGROUND_THRESHOLD_BYTES", 100)
    with celery_worker(settings, tmp_path, monkeypatch, "--pool=solo") as worker:
        upload(client, members_csv(40))
        job = latest_job()
        _wait_for(job, "previewed", worker, tmp_path)
        client.post(confirm_url(job))
        _wait_for(job, "done", worker, tmp_path)
        assert Member.objects.count() == 40


@pytest.mark.concurrency
@pytest.mark.skipif(not BROKER.startswith("redis://"), reason="needs the Redis broker scripts/test.sh starts")
def test_a_prefork_worker_posts_a_big_purchases_file_in_forked_processes(
    transactional_db, client, settings, tmp_path, monkeypatch, program, make_member
):
    """A file of more than a round is posted by processes the Celery pool process forks (billiard): the
    path multiprocessing would refuse there ("daemonic processes are not allowed to have children")."""
    from rewards.models import LedgerEntry
    from rewards.selectors import ledger_mismatches

    members = [make_member() for _ in range(20)]
    user = get_user_model().objects.create_superuser(username="worker-admin", password="x", email="w@example.pl")
    client.force_login(user)
    rows = importing.ROUND_ROWS + 50
    lines = ["purchase_id;member_number;purchased_at;amount"] + [
        f"W-{n:06d};{members[n % 20].member_number};01.10.2026 12:00;{10 + n % 90},50" for n in range(rows)
    ]
    with celery_worker(settings, tmp_path, monkeypatch, "--pool=prefork", "--concurrency=1") as worker:
        upload(client, ("\n".join(lines) + "\n").encode(), name="zakupy.csv", kind="purchases", source="pos")
        job = latest_job()
        _wait_for(job, "previewed", worker, tmp_path, timeout=120)
        client.post(confirm_url(job))
        _wait_for(job, "done", worker, tmp_path, timeout=180)
        job.refresh_from_db()
        assert job.options["applied"] == {"new": rows}
        assert LedgerEntry.objects.filter(reference=f"import:{job.pk}").count() == rows
        assert ledger_mismatches() == []


@contextmanager
def celery_worker(settings, tmp_path, monkeypatch, *options: str, env: dict | None = None):
    """A `celery worker` process against the test database, stopped afterwards. It consumes queues of its own:
    one for the default queue and one for the queue "files" (the settings route the file tasks there), as a
    production worker consumes `-Q celery,files`. `env`: more environment for the worker (its time limits)."""
    from loyalty_site.celery import app

    queue = f"imports-test-{os.getpid()}-{tmp_path.name}"
    files_queue = f"{queue}-files"
    monkeypatch.setattr(app.conf, "task_default_queue", queue)
    routes = {
        name: {**route, "queue": files_queue} if route.get("queue") == "files" else route
        for name, route in (app.conf.task_routes or {}).items()
    }
    monkeypatch.setattr(app.conf, "task_routes", routes)
    # Celery prepares its routes once and keeps its router: make it read the routes above (restored after).
    monkeypatch.setattr(app.amqp, "_rtable", None)
    monkeypatch.delattr(app.amqp, "router", raising=False)
    database = {**settings.DATABASES["default"], "NAME": connection.settings_dict["NAME"]}
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "IMPORT_WORKERS": "2",
        **(env or {}),
    }
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = database["PASSWORD"]
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "loyalty_site", "worker", *options),
            *("-Q", f"{queue},{files_queue}", "-l", "INFO"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield worker
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=5)
        log.close()


def _wait_for(job: ImportJob, status: str, worker, tmp_path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status == status:
            return
        if job.status == "failed" or worker.poll() is not None:
            break
        time.sleep(0.2)
    worker_log = (tmp_path / "worker.log").read_text()[-3000:]
    pytest.fail(f"the job is '{job.status}' ({job.error_message}), not '{status}'. Worker log:\n{worker_log}")


def test_members_error_report_needs_the_personal_data_permission(db, client, settings, tmp_path):
    from django.contrib.auth.models import Permission

    from loyalty_site.files.importing import import_job_create, import_preview

    settings.MEDIA_ROOT = tmp_path
    user = get_user_model().objects.create_user(username="importer", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_member"))
    from django.core.files.uploadedfile import SimpleUploadedFile

    job = import_preview(
        job=import_job_create(
            kind="members", file=SimpleUploadedFile("m.csv", b"member_number\n!\n"), name="m.csv", user=user
        )
    )
    client.force_login(user)
    url = reverse("admin:files_importjob_report", args=[job.pk])
    assert client.get(url).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_member_personal_data"))
    user = get_user_model().objects.get(pk=user.pk)
    client.force_login(user)
    assert client.get(url).status_code == 200


# --- Purchases with a second file of line items ------------------------------------------------------


def test_the_lines_file_input_is_offered_only_for_purchases(admin_client_, consent_text):
    purchases = page_text(admin_client_.get(reverse(UPLOAD), {"kind": "purchases"}, HTTP_HX_REQUEST="true"))
    assert 'id="import-lines-file" hx-swap-oob="true"' in purchases and 'name="lines_file"' in purchases
    assert 'id="import-lines-columns" hx-swap-oob="true"' in purchases and "?file=lines" in purchases
    members = page_text(admin_client_.get(reverse(UPLOAD), {"kind": "members"}, HTTP_HX_REQUEST="true"))
    assert 'id="import-lines-file" hx-swap-oob="true"' in members and 'name="lines_file"' not in members
    assert "?file=lines" not in members
    full = page_text(admin_client_.get(reverse(UPLOAD), {"kind": "purchases"}))
    assert 'name="lines_file"' in full

    template = admin_client_.get(reverse("admin:files_importjob_template", args=["purchases"]), {"file": "lines"})
    header = template.content.decode().lstrip("\ufeff").splitlines()[0]
    assert header == "purchase_id;source;sku;product_name;category;quantity;line_amount"
    assert 'filename="purchases-lines-template.csv"' in template["Content-Disposition"]
    missing = admin_client_.get(reverse("admin:files_importjob_template", args=["members"]), {"file": "lines"})
    assert missing.status_code == 404


def test_purchases_and_their_lines_file_are_uploaded_checked_and_imported(admin_client_, make_member, program):
    number = make_member().member_number
    purchases = f"purchase_id;member_number;purchased_at;amount\nPAR-1;{number};01.03.2026 14:30;249,90\n"
    lines = "purchase_id;sku;category;line_amount\nPAR-1;K-1;Kosmetyki;200,00\nPAR-1;K-2;Dom;49,90\n"
    upload(
        admin_client_,
        purchases.encode(),
        name="zakupy.csv",
        kind="purchases",
        source="kasa-1",
        lines_file=SimpleUploadedFile("pozycje.csv", lines.encode()),
    )
    job = latest_job()
    assert (job.status, job.counts, job.lines_original_name) == ("previewed", {"new": 1, "line": 2}, "pozycje.csv")
    page = page_text(admin_client_.get(job_url(job)))
    assert "zakupy.csv" in page and "pozycje.csv" in page
    admin_client_.post(confirm_url(job))
    purchase = Purchase.objects.get()
    assert (purchase.source, purchase.lines.count()) == ("kasa-1", 2)


def test_a_lines_file_is_checked_like_the_main_file(admin_client_):
    purchases = b"purchase_id;member_number;purchased_at;amount\nPAR-1;1;01.03.2026;1\n"
    response = upload(
        admin_client_,
        purchases,
        name="zakupy.csv",
        kind="purchases",
        lines_file=SimpleUploadedFile("pozycje.pdf", b"%PDF"),
    )
    assert response.status_code == 200 and "is not a .csv or .xlsx file" in page_text(response)
    assert not ImportJob.objects.exists()


def test_a_lines_file_sent_with_another_kind_is_ignored(admin_client_, consent_text):
    upload(admin_client_, members_csv(1), lines_file=SimpleUploadedFile("pozycje.csv", b"purchase_id\n1\n"))
    job = latest_job()
    assert job.kind == "members" and not job.lines_file
