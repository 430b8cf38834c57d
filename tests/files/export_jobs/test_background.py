"""A long list is exported by a background job: the same rows, columns and neutralised formulas as a
short export, recorded once."""

import io
import logging

import openpyxl
import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.urls import reverse

from loyalty_site.files.exports import EXPORT_FLAG
from loyalty_site.files.models import ExportJob
from loyalty_site.files.tasks import export_job_run, export_job_task
from members.models import Member
from rewards.services import points_earn

from .support import (
    FORMULAS,
    KRAKOW,
    LEDGER_EXPORT,
    MEMBER_CHANGELIST,
    MEMBER_EXPORT,
    content,
    csv_rows,
    download_url,
    export_in_background,
    exported_numbers,
    submit_export,
    xlsx_rows,
)


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
