"""What the import pages show: labels of statuses and counts, where a job runs, personal data masked."""

import logging

from django.conf import settings
from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from .. import importing
from ..import_forms import (
    importable_kinds,
)
from ..importing import HANDLERS, MASKED_COLUMNS
from ..models import ImportJob

logger = logging.getLogger(__name__)


Status = ImportJob.Status


POLLING_STATUSES = (Status.QUEUED, Status.PREVIEWING, Status.IMPORTING)


ERRORS_PER_PAGE = 50


# An XLSX is compressed: a small workbook can hold many times the rows of a CSV of the same size.
XLSX_ROWS_FACTOR = 8


# A job still queued after this long probably has no worker taking it: the page says so.
STALLED_AFTER_SECONDS = 60


PREVIEW_LABELS = {
    "new": _("to create"),
    "update": _("to update"),
    "skip": _("unchanged"),
    "invalid": _("with errors"),
}


DONE_LABELS = {
    "new": _("created"),
    "update": _("updated"),
    "skip": _("unchanged"),
    "invalid": _("not imported (errors)"),
}


# Short labels for the list of jobs, where the column must stay narrow.
LIST_LABELS = {
    "new": _("new"),
    "update": _("changed"),
    "skip": _("unchanged"),
    "invalid": _("errors"),
    "line": _("lines"),
}


# Actions some handlers add to the four above (a purchase's further item lines are rows of their own).
OTHER_LABELS = {"line": _("further item lines of a purchase")}


def in_background(job: ImportJob) -> bool:
    """Whether the job's preview or import runs in a Celery task rather than in the request.

    The engine decides by file size; an XLSX counts as bigger than it is (compressed), and an import of more
    than one chunk of rows goes to the background whatever the size (rows can cost more than bytes: a
    purchase posts points).
    """
    if importing.runs_in_background(job):
        return True
    if (
        job.original_name.lower().endswith(".xlsx")
        and job.size * XLSX_ROWS_FACTOR > importing.uploads.BACKGROUND_THRESHOLD_BYTES
    ):
        return True
    return job.total_rows > importing.CHUNK_SIZE


def kind_label(kind: str) -> str:
    handler = HANDLERS.get(kind)
    return handler.label if handler else kind


def count_rows(job: ImportJob) -> list[dict]:
    """A job's counts as (action, number, label): what the file would do, or what it did.

    Always the four actions every handler has; then any a handler adds (a purchase's item lines).
    """
    applied = job.options.get("applied")
    # A cancelled import: what its committed chunks did, not what the whole file would have done.
    ended = job.status == Status.DONE or (job.status == Status.CANCELLED and job.processed_rows)
    counts, labels = (applied, DONE_LABELS) if ended and applied is not None else (job.counts, PREVIEW_LABELS)
    rows = [
        {"action": action, "number": int(counts.get(action, 0)), "label": label} for action, label in labels.items()
    ]
    for action in sorted(set(counts) - set(labels)):
        rows.append({"action": action, "number": int(counts[action]), "label": OTHER_LABELS.get(action, action)})
    return rows


def _can_see_personal_data(user) -> bool:
    return user.has_perm(settings.PERSONAL_DATA_PERMISSION)


def _shown_value(column: str, value: str, *, personal: bool) -> str:
    masker = MASKED_COLUMNS.get(column)
    if personal or masker is None or not value:
        return value
    return masker(value)


class ImportKindListFilter(admin.SimpleListFilter):
    title = _("what is imported")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return importable_kinds(request.user)

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(kind=self.value())
        return queryset
