"""Spreadsheet exports from the staff admin: safe cells, permission checks, an audit record of every export.

The pieces every export uses live here, so `rewards.exports` can build on them:

* `neutralise` and `SafeExportResource`: a text cell that starts with = + - @ tab or carriage return gets a
  leading apostrophe, so Excel, LibreOffice and Google Sheets show it as text instead of running it as a
  formula (CSV injection, OWASP). Only text is touched: numbers leave as numbers (points -50 stay -50 in
  both CSV and XLSX), because a number is never a formula and staff need to sum them.
* `SafeCSV` and `SafeXLSX`: the two formats offered. They neutralise every text cell once more, whatever
  the resource, and never apply django-import-export's own `IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT`
  escaping, which only strips a leading "=" (losing data, missing + - @ tab CR) and turns every cell,
  numbers and empty ones included, into text.
* `SafeExportAdminMixin`: the admin side. Export needs the model's view permission (settings:
  IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"); exports of personal data also need
  `members.view_member_personal_data`. It exports what the changelist shows
  (its filters and search) and records every export with `export_record`.
"""

import io
import logging
import re

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.utils import timezone
from import_export import fields, resources, widgets
from import_export.admin import ExportMixin
from import_export.formats import base_formats

from .models import ConsentEvent, ConsentText, Member, MemberChange, Purchase, Refund

logger = logging.getLogger("loyalty.exports")

PERSONAL_DATA_PERMISSION = "members.view_member_personal_data"
# What spreadsheets read as the start of a formula (OWASP "CSV Injection"): = + - @, and tab and carriage
# return, which some spreadsheets skip before looking for one.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# LogEntry has no flag for "exported". Django's own flags would lie (an export adds, changes and deletes
# nothing), so export records carry their own: the admin's "Recent actions" shows them as plain text.
EXPORT_FLAG = 4


def neutralise(value):
    """A text cell a spreadsheet would run as a formula, made inert with a leading apostrophe. Anything
    that is not text (numbers, dates, booleans, empty cells) is returned as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_TRIGGERS):
        return "'" + value
    return value


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
        sheet = workbook.create_sheet(title=re.sub(r"[\\*?:/\[\]]", "-", dataset.title or "Export")[:31])
        sheet.freeze_panes = "A2"
        bold = Font(bold=True)
        header = []
        for name in dataset.headers or []:
            cell = WriteOnlyCell(sheet, value=name)
            cell.font = bold
            header.append(cell)
        sheet.append(header)
        for row in dataset:
            sheet.append([cell_value(value) for value in row])
        stream = io.BytesIO()
        workbook.save(stream)
        return stream.getvalue()


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
