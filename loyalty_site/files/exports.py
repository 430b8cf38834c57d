"""Spreadsheet exports from the staff admin: safe cells, permission checks, an audit record of every export.

The pieces every export uses live here, so the apps' exports (`members.exports`, `rewards.exports`) build on
them:

* `neutralise` and `SafeExportResource`: a text cell that starts with = + - @ tab or carriage return (also
  after leading spaces, tabs, line breaks or non-breaking spaces) gets a leading apostrophe, so Excel,
  LibreOffice and Google Sheets show it as text instead of running it as a formula (CSV injection, OWASP).
  Only text is touched: numbers leave as numbers (points -50 stay -50 in both CSV and XLSX), because a
  number is never a formula and staff need to sum them.
* `SafeCSV` and `SafeXLSX`: the two formats offered. They neutralise every text cell once more, whatever
  the resource, and never apply django-import-export's own `IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT`
  escaping, which only strips a leading "=" (losing data, missing + - @ tab CR) and turns every cell,
  numbers and empty ones included, into text.
* `admin_exports.SafeExportAdminMixin`: the admin side. Export needs the model's view permission (settings:
  IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"); exports of personal data also need the permission named
  by the setting PERSONAL_DATA_PERMISSION. It exports what the changelist shows
  (its filters and search) and records every export with `export_record`.
* Background exports: a list of more than `EXPORT_BACKGROUND_ROWS` rows (setting, default 5,000) is not
  written in the request. The form's submit creates an `ExportJob` and queues
  `loyalty_site.files.tasks.export_job_task`, which runs `export_job_write`: it checks the user's permissions
  again, rebuilds the changelist's queryset from the stored query string, streams the rows to a file in chunks
  and records the export like a small one. Staff download the file from the job's page (`admin_exports`);
  `export_files_cleanup` deletes it after `EXPORT_FILES_KEEP_DAYS` (default 7).
"""

import contextlib
import csv
import io
import logging
import os
import re
import tempfile
from collections.abc import Iterable
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldError, ValidationError
from django.core.files import File
from django.db import transaction
from django.http import HttpRequest, QueryDict
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext
from import_export import fields, resources, widgets
from import_export.formats import base_formats

from .jobs import job_beat
from .models import ExportJob
from .tabular.formulas import neutralise

logger = logging.getLogger("loyalty.exports")

# LogEntry has no flag for "exported". Django's own flags would lie (an export adds, changes and deletes
# nothing), so export records carry their own: the admin's "Recent actions" shows them as plain text.
EXPORT_FLAG = 4
# Lists longer than this are exported by a Celery task (setting EXPORT_BACKGROUND_ROWS): an XLSX of 20,000
# rows takes about 18 s to write, and no web request may take more than 30.
EXPORT_BACKGROUND_ROWS = 5000
# Files of background exports are deleted this many days after they were made (setting EXPORT_FILES_KEEP_DAYS).
EXPORT_FILES_KEEP_DAYS = 7
# Rows read from the database at a time, and how often a background export reports its progress.
EXPORT_CHUNK_ROWS = 2000
EXPORTS_FOLDER = "exports"


class SafeExportResource(resources.ModelResource):
    """Base of every export: whitelisted columns, text neutralised, numbers left as numbers.

    Numbers from numeric fields are exported as plain numbers in every format (not the widget's localised
    text): in CSV that is "-50" and "12.50" whatever the staff member's language, which spreadsheets and
    scripts read as numbers. `select_related` names the relations the columns read, so a long export runs
    a fixed number of queries however many rows it has.
    """

    select_related: tuple[str, ...] = ()

    def get_chunk_size(self):
        return 2000

    def filter_export(self, queryset, **kwargs):
        queryset = super().filter_export(queryset, **kwargs)
        return queryset.select_related(*self.select_related) if self.select_related else queryset

    def export_field(self, field, instance, **kwargs):
        if isinstance(field.widget, widgets.NumberWidget):
            return super().export_field(field, instance, **{**kwargs, "force_native_type": True})
        return neutralise(super().export_field(field, instance, **kwargs))


def related(attribute: str, column: str, widget: widgets.Widget | None = None) -> fields.Field:
    """A column read through a relation, e.g. the member number of a purchase's member. A number read
    this way needs a number widget, or it leaves as text."""
    return fields.Field(attribute=attribute, column_name=column, widget=widget, readonly=True)


class _NeutralisingFormat:
    """Neutralises every text cell of the dataset, always; replaces django-import-export's escaping."""

    def export_data(self, dataset, **kwargs):
        self._escape_formulae(dataset)
        return super().export_data(dataset, **kwargs)

    def _escape_formulae(self, dataset):
        # Idempotent: a neutralised cell starts with "'", so a second pass leaves it alone.
        for index, row in enumerate(dataset):
            cells = [neutralise(cell) for cell in row]
            if cells != list(row):
                dataset[index] = cells


class SafeCSV(_NeutralisingFormat, base_formats.CSV):
    pass


class SafeXLSX(base_formats.XLSX):
    """XLSX written row by row (openpyxl's write-only mode): for a big export it takes a fraction of the
    memory of tablib's writer, which builds every cell as an object first, and it is faster."""

    def export_data(self, dataset, **kwargs):
        stream = io.BytesIO()
        write_xlsx(stream, title=dataset.title, headers=dataset.headers or [], rows=dataset)
        return stream.getvalue()


def write_xlsx(target, *, title: str | None, headers: list[str], rows: Iterable) -> None:
    """Write a workbook of one sheet to `target` (a path or a binary file), one row at a time.

    openpyxl's write-only mode streams rows to a temporary file and writes text as inline strings, so memory
    stays the same however many rows come from `rows`. Every cell is neutralised.
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font

    def cell_value(value):
        value = neutralise(value)
        if isinstance(value, str):
            # Control characters XML cannot hold (e.g. from a till's data) would fail the whole file.
            return ILLEGAL_CHARACTERS_RE.sub("\N{REPLACEMENT CHARACTER}", value)
        return value

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=re.sub(r"[\\*?:/\[\]]", "-", title or "Export")[:31])
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for name in headers:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    try:
        for row in rows:
            sheet.append([cell_value(value) for value in row])
    except BaseException:
        # openpyxl keeps the sheet in a temporary file until the workbook is saved or the process ends; a worker
        # runs for days, so a failed export removes it now.
        with contextlib.suppress(Exception):
            sheet.close()
            sheet._writer.cleanup()
        raise
    workbook.save(target)


def write_csv(target, *, headers: list[str], rows: Iterable) -> None:
    """Write CSV to `target` (a text file opened with newline=""), one row at a time, every cell neutralised.

    The dialect is tablib's, so a background export is byte for byte the file a small one gives.
    """
    writer = csv.writer(target, delimiter=",")
    writer.writerow(headers)
    for row in rows:
        writer.writerow([neutralise(value) for value in row])


def export_record(*, user, model, rows: int, file_format: str, filters: str, columns: list[str], personal: bool):
    """Record who exported what: a log line for every export and, for personal data, an admin LogEntry.

    The log line (logger "loyalty.exports") is the operational record; the LogEntry is the durable one
    in the database for the exports GDPR asks us to account for, visible in the admin next to the edits.
    """
    logger.info(
        "export model=%s rows=%d format=%s filters=%s user=%s personal_data=%s",
        model._meta.label,
        rows,
        file_format,
        filters or "-",
        user.get_username(),
        personal,
        extra={
            "export_model": model._meta.label,
            "export_rows": rows,
            "export_format": file_format,
            "export_filters": filters,
            "export_columns": columns,
            "export_user_id": user.pk,
            "export_personal_data": personal,
        },
    )
    if personal:
        LogEntry.objects.create(
            user_id=user.pk,
            content_type=ContentType.objects.get_for_model(model),
            object_id=None,
            object_repr=f"Export: {rows} {model._meta.verbose_name_plural} ({file_format})"[:200],
            action_flag=EXPORT_FLAG,
            change_message=(
                f"Exported {rows} rows as {file_format}. Filters: {filters or 'none'}. Columns: {', '.join(columns)}."
            ),
        )


class ExportableAdmin:
    """What a background export needs of the admin of its list, besides django-import-export's `ExportMixin`
    (`admin_exports.SafeExportAdminMixin` is both): whether the list holds personal data."""

    export_personal_data = False


# --- Background exports ----------------------------------------------------------------------------


class ExportRefused(Exception):
    """A background export that may not or cannot be made any more; the message is for staff."""


def export_background_rows() -> int:
    return int(getattr(settings, "EXPORT_BACKGROUND_ROWS", EXPORT_BACKGROUND_ROWS))


def export_files_keep_days() -> int:
    return int(getattr(settings, "EXPORT_FILES_KEEP_DAYS", EXPORT_FILES_KEEP_DAYS))


def exceeds_background_rows(queryset) -> bool:
    """Whether the list has more rows than a request may export. Looks for the one row past the threshold
    rather than counting them all, so the answer costs the same for a list of a million rows."""
    limit = export_background_rows()
    return queryset[limit : limit + 1].exists()


def export_job_create(
    *,
    user,
    model,
    filters: str,
    file_format: str,
    resource_index: int = 0,
    columns: list[str] | None = None,
    personal_data: bool,
) -> ExportJob:
    return ExportJob.objects.create(
        created_by=user,
        model_label=model._meta.label_lower,
        filters=filters,
        file_format=file_format,
        resource_index=resource_index,
        columns=list(columns or []),
        personal_data=personal_data,
    )


def export_job_fail(job_id: int, *, message: str, token: str | None = None) -> ExportJob:
    """Fail the job with a message; with the run's token, only while that run still holds the job."""
    jobs = ExportJob.objects.filter(pk=job_id)
    if token is not None:
        jobs = jobs.filter(claim=token)
    jobs.update(status=ExportJob.Status.FAILED, error_message=message, finished_at=timezone.now())
    return ExportJob.objects.get(pk=job_id)


def export_job_admin(job: ExportJob) -> ExportableAdmin:
    """The admin of the list a job exports: its changelist, resources and permissions decide the file."""
    try:
        model = apps.get_model(job.model_label)
    except (LookupError, ValueError):
        raise ExportRefused(gettext("This list no longer exists, so it cannot be exported.")) from None
    model_admin = admin.site._registry.get(model)
    if not isinstance(model_admin, ExportableAdmin):
        raise ExportRefused(gettext("This list can no longer be exported."))
    return model_admin


def changelist_request(*, user, model_admin, filters: str) -> HttpRequest:
    """A GET of the changelist with `filters` (its query string) by `user`: what the admin's own code needs to
    build the list's queryset outside a web request, so a background export has exactly the rows staff saw."""
    request = HttpRequest()
    request.method = "GET"
    opts = model_admin.opts
    with contextlib.suppress(NoReverseMatch):
        name = f"{model_admin.admin_site.name}:{opts.app_label}_{opts.model_name}_changelist"
        request.path = request.path_info = reverse(name)
    request.GET = QueryDict(filters)
    request.META["QUERY_STRING"] = filters
    request.user = user
    return request


def export_allowed(request, model_admin, *, personal_data: bool) -> bool:
    """Whether `request.user` may export the list now: staff, the admin's export permission, and the personal-data
    permission for personal data (asked again when the task runs and at download: permissions may be gone)."""
    user = request.user
    if not (user.is_active and user.is_staff):
        return False
    if (personal_data or model_admin.export_personal_data) and not user.has_perm(settings.PERSONAL_DATA_PERMISSION):
        return False
    return model_admin.has_export_permission(request)


def export_job_write(*, job: ExportJob, token: str) -> ExportJob:
    """Make a background export's file, with the rows and columns the changelist and the form gave, and record it.

    The rows are read `EXPORT_CHUNK_ROWS` at a time from a server-side cursor and written straight to a
    temporary file, so memory stays the same for any number of rows; the job's progress is saved after each
    chunk. Raises ExportRefused when the user may no longer export the list or its filters no longer apply.
    """
    model_admin = export_job_admin(job)
    model = model_admin.model
    request = changelist_request(user=job.created_by, model_admin=model_admin, filters=job.filters)
    if not export_allowed(request, model_admin, personal_data=job.personal_data):
        raise ExportRefused(
            gettext(
                "You may no longer export this list, so the file was not made. Ask the administrator for the "
                "permission."
            )
        )
    try:
        queryset = model_admin.get_export_queryset(request)
        resource_class = model_admin.get_export_resource_classes(request)[job.resource_index]
        resource = resource_class(**model_admin.get_export_resource_kwargs(request))
        selected = job.columns or None
        export_fields = resource.get_export_fields(selected)
        headers = resource.get_export_headers(selected)
        queryset = resource.filter_export(queryset)
        total = queryset.count()
    except (IncorrectLookupParameters, FieldError, ValidationError, IndexError) as exc:
        raise ExportRefused(
            gettext("The filters or columns of this export no longer fit the list. Export the list again.")
        ) from exc
    if not export_fields:
        raise ExportRefused(gettext("None of the columns chosen can be exported any more. Export the list again."))
    job_beat(ExportJob, job.pk, token, total_rows=total)

    binary = job.file_format == ExportJob.Format.XLSX
    written = 0

    def rows():
        nonlocal written
        for instance in queryset.iterator(chunk_size=EXPORT_CHUNK_ROWS):
            # Native types for XLSX (numbers and dates as such), text for CSV: as the request's export does.
            row = [resource.export_field(field, instance, force_native_type=binary) for field in export_fields]
            written += 1
            yield row
            if written % EXPORT_CHUNK_ROWS == 0:
                job_beat(ExportJob, job.pk, token, written_rows=written)

    descriptor, path = tempfile.mkstemp(prefix="export-", suffix=f".{job.file_format}")
    os.close(descriptor)
    try:
        if binary:
            write_xlsx(path, title=str(model._meta.verbose_name_plural), headers=headers, rows=rows())
        else:
            with open(path, "w", encoding=model_admin.to_encoding or "utf-8", newline="") as target:
                write_csv(target, headers=headers, rows=rows())
        name = f"{model._meta.model_name}-{job.pk}-{timezone.localdate():%Y-%m-%d}.{job.file_format}"
        with open(path, "rb") as source:
            job.file.save(name, File(source), save=False)
    finally:
        os.unlink(path)

    try:
        with transaction.atomic():
            job_beat(ExportJob, job.pk, token)  # locks the job: no file is recorded by a run that lost it
            job.status = ExportJob.Status.DONE
            job.total_rows = job.written_rows = written
            job.error_message = ""
            job.finished_at = timezone.now()
            job.save(update_fields=["status", "total_rows", "written_rows", "error_message", "finished_at", "file"])
            export_record(
                user=job.created_by,
                model=model,
                rows=written,
                file_format=job.file_format.upper(),
                filters=job.filters,
                columns=headers,
                personal=job.personal_data or model_admin.export_personal_data,
            )
    except Exception:
        # No file without its record.
        job.file.delete(save=False)
        raise
    return job


def export_download_filename(job: ExportJob) -> str:
    model_name = job.model_label.rpartition(".")[2]
    return f"{model_name}-{timezone.localtime(job.created_at):%Y-%m-%d}.{job.file_format}"


def export_files_cleanup(*, now=None) -> int:
    """Delete the files of background exports older than EXPORT_FILES_KEEP_DAYS; the jobs stay as the record.

    Also deletes files in the exports folder that no job points to (a worker stopped between saving the file
    and recording it), and fails jobs that never ran in that time (no worker took them). Returns how many files
    were deleted.
    """
    cutoff = (now or timezone.now()) - timedelta(days=export_files_keep_days())
    deleted = 0
    expired = ExportJob.objects.exclude(file="").filter(finished_at__lt=cutoff)
    for job in expired.only("pk", "file"):
        job.file.delete(save=False)
        ExportJob.objects.filter(pk=job.pk).update(file="")
        deleted += 1
    ExportJob.objects.filter(
        status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING], created_at__lt=cutoff
    ).update(
        status=ExportJob.Status.FAILED,
        finished_at=timezone.now(),
        error_message=gettext("The export never finished: no background worker took it. Export the list again."),
    )
    storage = ExportJob._meta.get_field("file").storage
    kept = set(ExportJob.objects.exclude(file="").values_list("file", flat=True))
    for name in _stored_files(storage, EXPORTS_FOLDER):
        try:
            old = storage.get_modified_time(name) < cutoff
        except (NotImplementedError, OSError):
            continue
        if old and name not in kept:
            storage.delete(name)
            deleted += 1
    return deleted


def _stored_files(storage, folder: str):
    try:
        folders, files = storage.listdir(folder)
    except (FileNotFoundError, NotImplementedError):
        return
    for name in files:
        yield f"{folder}/{name}"
    for sub in folders:
        yield from _stored_files(storage, f"{folder}/{sub}")
