"""Staff imports in the admin: upload a file, watch its check, read its errors, confirm it, download reports.

The engine (`importing`) does the work. This module decides who may do what, and whether the work runs
in the request or in a Celery task (`tasks`): a request never holds the server for more than a file
the engine calls small, and a job page never grows with the file (counts, one page of errors, a sample).

Staff see an import of a kind (members, purchases, ...) only with that kind's handler permission.
"""

from .job_admin import ImportJobAdmin
from .labels import (
    DONE_LABELS,
    ERRORS_PER_PAGE,
    LIST_LABELS,
    OTHER_LABELS,
    POLLING_STATUSES,
    PREVIEW_LABELS,
    STALLED_AFTER_SECONDS,
    XLSX_ROWS_FACTOR,
    ImportKindListFilter,
    Status,
    count_rows,
    in_background,
    kind_label,
    logger,
)

__all__ = [
    "DONE_LABELS",
    "ERRORS_PER_PAGE",
    "LIST_LABELS",
    "OTHER_LABELS",
    "POLLING_STATUSES",
    "PREVIEW_LABELS",
    "STALLED_AFTER_SECONDS",
    "XLSX_ROWS_FACTOR",
    "ImportJobAdmin",
    "ImportKindListFilter",
    "Status",
    "count_rows",
    "in_background",
    "kind_label",
    "logger",
]
