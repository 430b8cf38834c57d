"""A job made from an upload, where it runs, its template and error report, and how long its files are kept."""

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from ..models import ImportJob, ImportRowError
from ..tabular import FileFormatError
from ..tabular.formulas import neutralise
from .handlers import handler_for, logger
from .prepared import _prepared_delete

BACKGROUND_THRESHOLD_BYTES = 512 * 1024  # above this, preview and import run in a Celery task


def import_job_create(
    *,
    kind: str,
    file: Any,
    name: str,
    user: Any,
    only_valid_rows: bool = False,
    options: dict | None = None,
    lines_file: Any = None,
    lines_name: str = "",
) -> ImportJob:
    """Store an uploaded file (and the second file of its lines, for a kind that takes one) as a job waiting
    for its preview."""
    handler = handler_for(kind)
    if lines_file is not None and not handler.lines_columns:
        raise FileFormatError(gettext("This kind of import takes no second file."))
    job = ImportJob(
        kind=kind,
        original_name=name[:255],
        size=getattr(file, "size", 0) or 0,
        only_valid_rows=only_valid_rows,
        options=options or {},
        created_by=user,
    )
    job.file.save(name, file, save=False)
    if lines_file is not None:
        lines_name = lines_name or getattr(lines_file, "name", "") or "lines.csv"
        job.lines_original_name = lines_name[:255]
        job.size += getattr(lines_file, "size", 0) or 0  # both files are read: the size decides the background
        job.lines_file.save(lines_name, lines_file, save=False)
    job.save()
    return job


def runs_in_background(job: ImportJob) -> bool:
    return job.size > BACKGROUND_THRESHOLD_BYTES


def template_csv(kind: str, *, lines: bool = False) -> str:
    """A template file staff download from the import page: the header and one example row (of the second
    file, the lines, with `lines=True`)."""
    handler = handler_for(kind)
    columns = handler.columns
    if lines:
        columns = handler.lines_columns
        if not columns:
            raise FileFormatError(gettext("This kind of import takes no second file."))
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow([column.name for column in columns])
    writer.writerow([column.example for column in columns])
    return buffer.getvalue()


def error_report_csv(*, job: ImportJob) -> Iterator[str]:
    """The failed rows as CSV, streamed: line, column, value, message."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";")
    writer.writerow(["line", "column", "value", "message"])
    yield "\ufeff" + buffer.getvalue()
    for error in ImportRowError.objects.filter(job=job).order_by("line", "id").iterator(chunk_size=2000):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([error.line, error.column, neutralise(error.value), error.message])
        yield buffer.getvalue()


# --- Retention ---------------------------------------------------------------------------------------
# Uploaded files hold personal data (RODO: kept no longer than needed). The job, its counts and its row
# errors stay as the record of what was imported; the files and the preview's first rows go.

IMPORT_FILES_KEEP_DAYS = 7


def import_files_keep_days() -> int:
    return int(getattr(settings, "IMPORT_FILES_KEEP_DAYS", IMPORT_FILES_KEEP_DAYS))


def import_files_cleanup(*, now=None) -> int:
    """Delete the uploads (and kept preview outcomes) of imports that ended, or were left unconfirmed, more
    than IMPORT_FILES_KEEP_DAYS ago. A preview nobody confirmed in that time can no longer be imported, and
    says so. Returns how many jobs lost their files."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=import_files_keep_days())
    Status = ImportJob.Status
    abandoned = list(
        ImportJob.objects.filter(status__in=[Status.PREVIEWED, Status.QUEUED, Status.PREVIEWING], created_at__lt=cutoff)
        .exclude(status=Status.PREVIEWING, heartbeat_at__gte=cutoff)  # a preview still at work on a huge file
        .values_list("pk", flat=True)
    )
    ImportJob.objects.filter(pk__in=abandoned, status=Status.PREVIEWED).update(
        status=Status.FAILED,
        finished_at=now,
        error_message=gettext(
            "Not imported within %(days)d days of the upload, so the file was deleted. Upload it again to import it."
        )
        % {"days": import_files_keep_days()},
    )
    # Checked again in the update: a worker may have taken the job since (it beats at once), and clearing the
    # claim stops a preview that would (jobs).
    ImportJob.objects.filter(pk__in=abandoned, status__in=[Status.QUEUED, Status.PREVIEWING]).exclude(
        heartbeat_at__gte=cutoff
    ).update(
        status=Status.FAILED,
        finished_at=now,
        claim="",
        error_message=gettext("The file was never checked: no background worker took it. Upload it again."),
    )
    swept = 0
    # Only the abandoned jobs failed now: one confirmed meanwhile is importing, and keeps its file.
    ended = ImportJob.objects.filter(
        Q(status__in=[Status.DONE, Status.FAILED, Status.CANCELLED], finished_at__lt=cutoff)
        | Q(pk__in=abandoned, status=Status.FAILED)
    )
    for job in ended.exclude(file="", lines_file="").only("pk", "file", "lines_file", "options"):
        _prepared_delete(job)
        for stored in (job.file, job.lines_file):
            if stored:
                try:
                    stored.delete(save=False)
                except OSError:
                    logger.warning("Import %s: could not delete %s", job.pk, stored.name)
        # Without its file a stopped job cannot be continued: stop offering it.
        options = {key: value for key, value in job.options.items() if key != "stopped_during"}
        ImportJob.objects.filter(pk=job.pk).update(file="", lines_file="", sample=[], options=options)
        swept += 1
    return swept
