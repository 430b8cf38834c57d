"""Helpers of the export job tests (their fixtures are in conftest.py)."""

import csv
import io

import openpyxl
from django.test import Client
from django.urls import reverse

from loyalty_site.files.models import ExportJob

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


def logged_in(user) -> Client:
    """A client of its own, so two staff members can be logged in at once."""
    client = Client()
    client.force_login(user)
    return client


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
