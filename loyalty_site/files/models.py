"""The jobs of the file engine: an import (its file, its progress, its row errors) and a background export.

They moved here from `members` with their tables: `db_table` keeps the names the tables were created with.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class ImportJob(models.Model):
    """One uploaded file: previewed without changing anything, then applied in checkpointed chunks."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting for preview")
        PREVIEWING = "previewing", _("Previewing")
        PREVIEWED = "previewed", _("Preview ready")
        IMPORTING = "importing", _("Importing")
        DONE = "done", _("Imported")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    kind = models.CharField(_("what is imported"), max_length=30)
    status = models.CharField(_("status"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=255)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    options = models.JSONField(_("options"), default=dict, blank=True)
    only_valid_rows = models.BooleanField(
        _("import only the valid rows"), default=False, help_text=_("Otherwise a file with errors imports nothing.")
    )
    encoding = models.CharField(_("encoding"), max_length=20, blank=True)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    previewed_rows = models.PositiveIntegerField(_("rows previewed"), default=0)
    processed_rows = models.PositiveIntegerField(
        _("rows processed"), default=0, help_text=_("Rows applied and committed: where a restarted import continues.")
    )
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    sample = models.JSONField(
        _("sample"), default=list, blank=True, help_text=_("The first rows, as the preview shows them.")
    )
    error_message = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # A purchases import may bring its line items as a second file, joined to the purchases in the preview.
    lines_file = models.FileField(_("lines file"), upload_to="imports/%Y/%m/", blank=True)
    lines_original_name = models.CharField(_("lines file name"), max_length=255, blank=True)
    # The task run that owns the job and when it last reported (loyalty_site.files.jobs): one run at a time.
    claim = models.CharField(_("worker claim"), max_length=32, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True, editable=False)

    class Meta:
        db_table = "members_importjob"
        verbose_name = _("import")
        verbose_name_plural = _("imports")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(processed_rows__lte=models.F("total_rows")) | Q(total_rows=0),
                name="import_processed_within_total",
            )
        ]

    def __str__(self) -> str:
        return f"{self.original_name} ({self.get_status_display()})"

    @property
    def invalid_rows(self) -> int:
        return int(self.counts.get("invalid", 0))

    @property
    def progress_percent(self) -> int:
        if self.status in (self.Status.PREVIEWING, self.Status.QUEUED):
            done = self.previewed_rows
        else:
            done = self.processed_rows
        if not self.total_rows:
            return 0
        return min(100, done * 100 // self.total_rows)


class ImportRowError(models.Model):
    job = models.ForeignKey(ImportJob, verbose_name=_("import"), on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField(
        _("line"),
    )
    column = models.CharField(_("column"), max_length=100, blank=True)
    value = models.CharField(_("value"), max_length=255, blank=True)
    message = models.CharField(_("message"), max_length=500)

    class Meta:
        db_table = "members_importrowerror"
        verbose_name = _("import row error")
        verbose_name_plural = _("import row errors")
        ordering = ["line", "id"]
        indexes = [models.Index(fields=["job", "line"])]

    def __str__(self) -> str:
        return gettext("line %(line)s, %(column)s: %(message)s") % {
            "line": self.line,
            "column": self.column,
            "message": self.message,
        }


class ExportJob(models.Model):
    """A spreadsheet export too big for one web request, written by a Celery task and downloaded when ready.

    It keeps what is needed to build the same file the changelist would have given: the model, the
    changelist's query string (filters, search, ordering), the resource and columns chosen on the export
    form, and the format. The file is deleted after a few days (`export_files_cleanup`); the row stays as the
    record of the export.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting")
        RUNNING = "running", _("Being prepared")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        XLSX = "xlsx", "XLSX"

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("requested by"), on_delete=models.CASCADE, related_name="+"
    )
    model_label = models.CharField(_("list"), max_length=100, help_text=_("app_label.model_name"))
    filters = models.TextField(_("filters"), blank=True, help_text=_("The changelist's query string."))
    file_format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    resource_index = models.PositiveSmallIntegerField(_("export type"), default=0)
    columns = models.JSONField(
        _("columns"), default=list, blank=True, help_text=_("The columns chosen; empty: all of them.")
    )
    personal_data = models.BooleanField(_("personal data"), default=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    written_rows = models.PositiveIntegerField(_("rows written"), default=0)
    file = models.FileField(_("file"), upload_to="exports/%Y/%m/", blank=True, max_length=255)
    error_message = models.TextField(_("error"), blank=True)
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # The task run that owns the job and when it last reported (loyalty_site.files.jobs): one run at a time.
    claim = models.CharField(_("worker claim"), max_length=32, blank=True, editable=False)
    heartbeat_at = models.DateTimeField(_("last heartbeat"), null=True, blank=True, editable=False)

    class Meta:
        db_table = "members_exportjob"
        verbose_name = _("export")
        verbose_name_plural = _("exports")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["created_by", "-created_at"])]
        constraints = [
            models.CheckConstraint(condition=Q(file_format__in=["csv", "xlsx"]), name="export_job_known_format"),
        ]

    def __str__(self) -> str:
        return f"{self.model_label} ({self.get_file_format_display()}, {self.get_status_display()})"

    @property
    def progress_percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        if not self.total_rows:
            return 0
        return min(100, self.written_rows * 100 // self.total_rows)
