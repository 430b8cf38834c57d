"""The import engine: a file is previewed (validated, counted, nothing written), then applied in chunks.

Each kind of file (members, purchases, refunds, adjustments, ...) is an `ImportHandler` registered here; apps
register their own (members registers members, rewards purchases, refunds, adjustments, partners and rewards),
so this module imports no app of ours.

Why chunks with a checkpoint: a chunk's rows and the job's `processed_rows` commit in one transaction,
so a worker killed mid-file rolls back only the chunk it was in, and the rerun continues from the
checkpoint. Rows are matched on natural keys as well, so even a repeated chunk changes nothing twice.
"""

from .applying import (
    APPLICABLE,
    CANCELLABLE,
    IMPORT_WORKERS,
    ROUND_ROWS,
    ImportRefused,
    import_apply,
    import_cancel,
    import_workers,
)
from .handlers import (
    HANDLERS,
    MASKED_COLUMNS,
    Column,
    Figure,
    ImportHandler,
    Outcome,
    Row,
    handler_for,
    logger,
    mask_column,
    register,
)
from .prepared import PREPARED_FORMAT
from .preview import CHUNK_SIZE, MAX_STORED_ERRORS, SAMPLE_ROWS, import_preview
from .reading import PROBLEMS, row_problems
from .uploads import (
    BACKGROUND_THRESHOLD_BYTES,
    IMPORT_FILES_KEEP_DAYS,
    error_report_csv,
    import_files_cleanup,
    import_files_keep_days,
    import_job_create,
    runs_in_background,
    template_csv,
)

__all__ = [
    "APPLICABLE",
    "BACKGROUND_THRESHOLD_BYTES",
    "CANCELLABLE",
    "CHUNK_SIZE",
    "HANDLERS",
    "IMPORT_FILES_KEEP_DAYS",
    "IMPORT_WORKERS",
    "MASKED_COLUMNS",
    "MAX_STORED_ERRORS",
    "PREPARED_FORMAT",
    "PROBLEMS",
    "ROUND_ROWS",
    "SAMPLE_ROWS",
    "Column",
    "Figure",
    "ImportHandler",
    "ImportRefused",
    "Outcome",
    "Row",
    "error_report_csv",
    "handler_for",
    "import_apply",
    "import_cancel",
    "import_files_cleanup",
    "import_files_keep_days",
    "import_job_create",
    "import_preview",
    "import_workers",
    "logger",
    "mask_column",
    "register",
    "row_problems",
    "runs_in_background",
    "template_csv",
]
