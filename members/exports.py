"""Spreadsheet exports from the staff admin: safe cells, permission checks, an audit record of every export.

The pieces every export uses live here, so `rewards.exports` can build on them:

* `neutralise` and `SafeExportResource`: a text cell that starts with = + - @ tab or carriage return (also
  after leading spaces, tabs, line breaks or non-breaking spaces) gets a leading apostrophe, so Excel,
  LibreOffice and Google Sheets show it as text instead of running it as a formula (CSV injection, OWASP).
  Only text is touched: numbers leave as numbers (points -50 stay -50 in both CSV and XLSX), because a
  number is never a formula and staff need to sum them.
* `SafeCSV` and `SafeXLSX`: the two formats offered. They neutralise every text cell once more, whatever
  the resource, and never apply django-import-export's own `IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT`
  escaping, which only strips a leading "=" (losing data, missing + - @ tab CR) and turns every cell,
  numbers and empty ones included, into text.
* `SafeExportAdminMixin`: the admin side. Export needs the model's view permission (settings:
  IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"); exports of personal data also need
  `members.view_member_personal_data`. It exports what the changelist shows
  (its filters and search) and records every export with `export_record`.
* Background exports: a list of more than `EXPORT_BACKGROUND_ROWS` rows (setting, default 5,000) is not
  written in the request. The form's submit creates an `ExportJob` and queues `members.tasks.export_job_task`,
  which runs `export_job_write`: it checks the user's permissions again, rebuilds the changelist's queryset
  from the stored query string, streams the rows to a file in chunks and records the export like a small one.
  Staff download the file from the job's page (`members.admin_exports`); `export_files_cleanup` deletes it
  after `EXPORT_FILES_KEEP_DAYS` (default 7).
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
from django.contrib import admin, messages
from django.contrib.admin.models import LogEntry
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, FieldError, PermissionDenied, ValidationError
from django.core.files import File
from django.db import transaction
from django.http import HttpRequest, HttpResponseRedirect, QueryDict
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext
from import_export import fields, resources, widgets
from import_export.admin import ExportMixin
from import_export.formats import base_formats
from import_export.forms import SelectableFieldsExportForm

from .jobs import job_beat
from .models import ConsentEvent, ConsentText, ExportJob, Member, MemberChange, Purchase, Refund

logger = logging.getLogger("loyalty.exports")

PERSONAL_DATA_PERMISSION = "members.view_member_personal_data"
# What spreadsheets read as the start of a formula (OWASP "CSV Injection"): = + - @, and tab and carriage
# return, which some spreadsheets skip before looking for one.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Spreadsheets skip these before looking for a trigger, so " =1+1" and "\n=1+1" are formulas too.
FORMULA_LEADING_SPACE = " \t\r\n\xa0"
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


def neutralise(value):
    """A text cell a spreadsheet would run as a formula, made inert with a leading apostrophe. Anything
    that is not text (numbers, dates, booleans, empty cells) is returned as it is."""
    if isinstance(value, str) and starts_formula(value):
        return "'" + value
    return value


def starts_formula(text: str) -> bool:
    """Whether a spreadsheet could read the text as a formula: it starts with a trigger, also after spaces,
    tabs, line breaks or non-breaking spaces."""
    return text.startswith(FORMULA_TRIGGERS) or text.lstrip(FORMULA_LEADING_SPACE).startswith(FORMULA_TRIGGERS)


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


class ExportColumnsForm(SelectableFieldsExportForm):
    """The export form, with each column shown as staff know it and as the file will name it:
    "Numer członkowski (member_number)" rather than django-import-export's "Member Number"."""

    def _get_field_label(self, resource, field_name: str) -> str:
        field = resource.fields.get(field_name)
        column = field.column_name if field is not None else field_name
        attribute = (field.attribute if field is not None else None) or field_name
        try:
            model_field = resource._meta.model._meta.get_field(attribute)
        except FieldDoesNotExist:
            return column  # a column read through a relation, e.g. member_number of a purchase
        return f"{capfirst(model_field.verbose_name)} ({column})"


class SafeExportAdminMixin(ExportMixin):
    """Export (CSV, XLSX) of what the changelist shows, for staff allowed to, recorded every time.

    Put it before `admin.ModelAdmin` and set `resource_classes`. An admin whose export holds personal data
    sets `export_personal_data = True`: staff without the personal-data permission then get 403 and no
    Export button, rather than a file with masked columns (a file of names and cities with starred-out
    contacts is still personal data leaving the system, and useless for any task that needs the export).
    """

    export_formats = [SafeCSV, SafeXLSX]
    # Our own template: import-export's shows the object tools only to staff who may add, which would hide
    # other tools (e.g. "Likely duplicates") from view-only staff.
    import_export_change_list_template = "admin/exports/change_list.html"
    # import-export's form, saying that a long list is exported in the background.
    export_template_name = "admin/exports/export.html"
    export_form_class = ExportColumnsForm
    # A byte-order mark, so Excel opens Polish letters in a CSV correctly.
    to_encoding = "utf-8-sig"
    export_personal_data = False

    def has_export_permission(self, request):
        if self.export_personal_data and not request.user.has_perm(PERSONAL_DATA_PERMISSION):
            return False
        return super().has_export_permission(request)

    def get_export_data(self, file_format, request, queryset, **kwargs):
        # As django-import-export's, except that subclassed binary formats get native types (it compares
        # exact types) and that the export is recorded once the file is made.
        if not self.has_export_permission(request):
            raise PermissionDenied
        dataset = self.get_data_for_export(request, queryset, force_native_type=file_format.is_binary(), **kwargs)
        dataset.title = str(self.opts.verbose_name_plural)
        export_data = file_format.export_data(dataset)
        encoding = kwargs.get("encoding")
        if not file_format.is_binary() and encoding:
            export_data = export_data.encode(encoding)
        export_record(
            user=request.user,
            model=self.model,
            rows=len(dataset),
            file_format=file_format.get_extension().upper(),
            filters=request.GET.urlencode(),
            columns=list(dataset.headers or []),
            personal=self.export_personal_data,
        )
        return export_data

    def get_export_filename(self, request, queryset, file_format):
        return f"{self.opts.model_name}-{timezone.localdate():%Y-%m-%d}.{file_format.get_extension()}"

    def get_export_context_data(self, **kwargs):
        return {**super().get_export_context_data(**kwargs), "export_background_rows": export_background_rows()}

    def _do_file_export(self, file_format, request, queryset, export_form=None):
        # The export form's submit: a long list becomes a background job instead of a file made here. A GET
        # (import-export's "skip the form" setting) never creates a job, and exports of items picked on the
        # changelist are at most a page of rows.
        if (
            request.method == "POST"
            and export_form is not None
            and "export_items" not in export_form.changed_data
            and file_format.get_extension() in ExportJob.Format.values
            and exceeds_background_rows(queryset)
        ):
            return self._export_in_background(file_format, request, export_form)
        return super()._do_file_export(file_format, request, queryset, export_form=export_form)

    def _export_in_background(self, file_format, request, export_form):
        if not self.has_export_permission(request):
            raise PermissionDenied
        # members.tasks imports this module.
        from .tasks import export_job_task

        job = export_job_create(
            user=request.user,
            model=self.model,
            filters=request.GET.urlencode(),
            file_format=file_format.get_extension(),
            resource_index=self.get_resource_index(export_form),
            columns=self.get_export_resource_fields_from_form(export_form),
            personal_data=self.export_personal_data,
        )
        job_url = reverse(f"{self.admin_site.name}:members_exportjob_change", args=[job.pk])
        try:
            export_job_task.delay_on_commit(job.pk)
        except Exception:
            logger.exception("Export job %s: the task could not be queued", job.pk)
            message = gettext(
                "The background worker could not be reached, so the file was not made. Try again in a few "
                "minutes; if it still fails, tell the administrator."
            )
            export_job_fail(job.pk, message=message)
            messages.error(request, message)
            return HttpResponseRedirect(job_url)
        messages.info(
            request,
            gettext(
                "The list has more than %(rows)s rows, so the file is prepared in the background. This page shows "
                "how far it got; download the file here when it is ready."
            )
            % {"rows": export_background_rows()},
        )
        return HttpResponseRedirect(job_url)


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


def export_job_admin(job: ExportJob) -> "SafeExportAdminMixin":
    """The admin of the list a job exports: its changelist, resources and permissions decide the file."""
    try:
        model = apps.get_model(job.model_label)
    except (LookupError, ValueError):
        raise ExportRefused(gettext("This list no longer exists, so it cannot be exported.")) from None
    model_admin = admin.site._registry.get(model)
    if not isinstance(model_admin, SafeExportAdminMixin):
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
    if (personal_data or model_admin.export_personal_data) and not user.has_perm(PERSONAL_DATA_PERMISSION):
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


# --- Resources -------------------------------------------------------------------------------------
# Column names are the import's column names where there is an import (members), so an export can be
# edited and imported back; elsewhere they are the same plain snake_case words. Choices export their
# codes ("active", "email"), which stay the same in every language. Nothing secret leaves: no logins,
# referral codes or idempotency keys.


class MemberResource(SafeExportResource):
    """Members' profiles: personal data. `rewards.exports` adds the points."""

    class Meta:
        model = Member
        fields = (
            "member_number",
            "first_name",
            "last_name",
            "email",
            "phone",
            "birth_date",
            "gender",
            "city",
            "postal_code",
            "preferred_language",
            "preferred_channel",
            "status",
            "join_source",
            "joined_at",
        )
        export_order = fields


class ConsentTextResource(SafeExportResource):
    class Meta:
        model = ConsentText
        fields = ("channel", "purpose", "version", "valid_from", "text", "created_at")
        export_order = fields


class ConsentEventResource(SafeExportResource):
    member_number = related("member__member_number", "member_number")
    text_version = related("text__version", "text_version")
    actor = related("actor__username", "actor")
    select_related = ("member", "text", "actor")

    class Meta:
        model = ConsentEvent
        fields = ("created_at", "member_number", "channel", "purpose", "granted", "source", "text_version", "actor")
        export_order = fields


class PurchaseResource(SafeExportResource):
    member_number = related("member__member_number", "member_number")
    select_related = ("member",)

    class Meta:
        model = Purchase
        fields = ("purchased_at", "source", "external_id", "member_number", "store", "amount", "refunded_amount")
        export_order = fields


class RefundResource(SafeExportResource):
    purchase_source = related("purchase__source", "purchase_source")
    purchase_external_id = related("purchase__external_id", "purchase_external_id")
    member_number = related("purchase__member__member_number", "member_number")
    select_related = ("purchase__member",)

    class Meta:
        model = Refund
        fields = (
            "refunded_at",
            "external_id",
            "purchase_source",
            "purchase_external_id",
            "member_number",
            "amount",
            "reason",
        )
        export_order = fields


class MemberChangeResource(SafeExportResource):
    """The audit trail: old and new values are personal data (emails, phones, birth dates)."""

    member_number = related("member__member_number", "member_number")
    actor = related("actor__username", "actor")
    select_related = ("member", "actor")

    class Meta:
        model = MemberChange
        fields = ("changed_at", "member_number", "field", "old_value", "new_value", "actor", "note")
        export_order = fields
