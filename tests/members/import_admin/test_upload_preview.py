"""The import admin: upload, preview, confirm; escaping and the errors' pages; upload validation."""

import html
import io

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from loyalty_site.files import import_forms, importing
from loyalty_site.files.importing import import_preview
from loyalty_site.files.models import ImportJob, ImportRowError
from members.forms import mask_phone
from members.models import ConsentEvent, Member, Purchase
from tests.factories import StaffFactory

from .support import (
    CHANGELIST,
    SCRIPT,
    UPLOAD,
    confirm_url,
    job_for_user,
    job_url,
    latest_job,
    members_csv,
    message_texts,
    page_text,
    upload,
)


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
    import_preview(job=job_for_user(members_csv(1, {2: "phone=12ab"}), staff_user))
    clerk = StaffFactory(username="clerk")
    clerk.user_permissions.add(Permission.objects.get(codename="add_member"))
    client.force_login(clerk)

    response = client.get(job_url(latest_job()))

    text = page_text(response)
    assert response.status_code == 200
    assert "zofia0@example.pl" not in text and "z***@example.pl" in text
    assert [row["value"] for row in response.context["error_rows"]] == [mask_phone("12ab")]


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
