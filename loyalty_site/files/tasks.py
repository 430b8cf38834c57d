"""Background work for staff imports: the preview and the import of an uploaded file, guarded for staff.

The engine (`importing`) does the work. These wrappers re-fetch the job, do nothing when it is no longer
in a state they apply to (a redelivered task, a cancelled job), and turn an unexpected error into a message staff
can act on; the traceback goes to the log. The admin calls the same `*_run` functions for small files.

The file tasks run on the queue "files" (settings.CELERY_TASK_ROUTES) with a soft and a hard time limit
(FILE_TASK_SOFT_TIME_LIMIT, FILE_TASK_TIME_LIMIT), so one huge or hostile file cannot hold a worker for ever.
The soft limit raises SoftTimeLimitExceeded in the task: the chunk it was in rolls back and the job fails with a
message saying how far it got. The hard limit kills the pool process; Celery then calls `FileTask.on_failure` in
the worker's main process, which fails the job the same way, so it never stays "importing" with no worker.
"""

import logging
from collections.abc import Callable

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from .exports import ExportRefused, export_files_cleanup, export_job_fail, export_job_write
from .importing import ImportRefused, import_apply, import_files_cleanup, import_preview
from .jobs import JobSuperseded, job_claim
from .models import ExportJob, ImportJob

logger = logging.getLogger(__name__)

Status = ImportJob.Status
# PREVIEWING: the worker may have died mid-preview; the preview takes the job over if so (jobs).
PREVIEW_STATUSES = (Status.QUEUED, Status.PREVIEWING)
APPLY_STATUSES = (Status.PREVIEWED, Status.IMPORTING)  # IMPORTING: continue at the checkpoint


def stopped_by_time_limit(exc: BaseException) -> bool:
    """Whether the time limit stopped the work. The soft limit may strike in the middle of a query or a commit;
    the database driver then fails too, and its error, not SoftTimeLimitExceeded, is what reaches us."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, SoftTimeLimitExceeded | TimeLimitExceeded):
            return True
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return False


def fresh_connection() -> None:
    """Drop the database connection after an interruption that may have left it in the middle of a command; the
    next query opens a new one. Whatever the interrupted transaction held is rolled back by the server. Only in
    a worker's task, never inside a caller's transaction (a web request's, a test's)."""
    if connection.in_atomic_block:
        return
    try:
        connection.close()
    except Exception:  # closing a broken connection may fail too: it is gone either way
        logger.warning("Closing the interrupted database connection failed", exc_info=True)


def time_limit_minutes(seconds: float | None = None) -> int:
    """A time limit (by default the soft one of the file tasks) in whole minutes, as staff read it (at least one)."""
    if seconds is None:
        seconds = settings.FILE_TASK_SOFT_TIME_LIMIT
    return max(1, round(seconds / 60))


def import_preview_run(job_id: int) -> ImportJob | None:
    """Preview a queued job. An unexpected error fails the job with a message and is logged."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or job.status not in PREVIEW_STATUSES:
        return job
    try:
        return import_preview(job=job)
    except Exception as exc:
        if stopped_by_time_limit(exc):
            fresh_connection()
            logger.warning("Import job %s: the preview reached the time limit", job_id, exc_info=True)
            return import_preview_timed_out(job_id)
        logger.exception("Import job %s: the preview stopped unexpectedly", job_id)
        return import_job_stop(
            job_id,
            stage="preview",
            message=gettext(
                "The check of the file stopped unexpectedly; nothing was imported. Check the file again, "
                "and if it stops again, tell the administrator."
            ),
        )


def import_apply_run(job_id: int) -> ImportJob | None:
    """Apply a previewed job, or continue an interrupted one at its checkpoint.

    Raises ImportRefused when the engine refuses the job (e.g. it has invalid rows and staff did not choose to
    import only the valid ones). Any other error fails the job with a message saying how far it got.
    """
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or job.status not in APPLY_STATUSES:
        return job
    try:
        return import_apply(job=job)
    except ImportRefused:
        raise
    except Exception as exc:
        if stopped_by_time_limit(exc):
            fresh_connection()
            logger.warning("Import job %s: the import reached the time limit", job_id, exc_info=True)
            return import_apply_timed_out(job_id)
        logger.exception("Import job %s: the import stopped unexpectedly", job_id)
        return import_job_stop(
            job_id,
            stage="import",
            message=lambda job: (
                gettext(
                    "The import stopped unexpectedly after %(done)s of %(total)s rows; those rows were imported. "
                    "Start it again to continue."
                )
                % {"done": job.processed_rows, "total": job.total_rows}
            ),
        )


def import_job_stop(
    job_id: int, *, stage: str | None, message: str | Callable[[ImportJob], str], only_from=None
) -> ImportJob:
    """Fail a job that stopped for a reason outside the file; staff can start it again from `stage` (None: they
    cannot, the file must change). With `only_from` (statuses), a job that has moved on meanwhile (cancelled by
    staff, done) is left as it is. `message`: the text, or a function of the job as it is found (how far it got).

    The job's row is locked first. A time limit may strike while a chunk's COMMIT is on its way (tasks: the
    connection is dropped, and the server still commits the chunk, with its rows, checkpoint and counts, holding
    that row until then): the job is written from what the chunk committed, never over it from before."""
    with transaction.atomic():
        jobs = ImportJob.objects.select_for_update().filter(pk=job_id)
        if only_from is not None:
            jobs = jobs.filter(status__in=only_from)
        job = jobs.first()
        if job is None:
            return ImportJob.objects.get(pk=job_id)
        job.status = Status.FAILED
        job.error_message = message(job) if callable(message) else message
        job.finished_at = timezone.now()
        job.claim = ""
        options = {key: value for key, value in job.options.items() if key != "stopped_during"}
        job.options = {**options, "stopped_during": stage} if stage else options
        job.save(update_fields=["status", "error_message", "finished_at", "claim", "options"])
    job.refresh_from_db()
    return job


def import_preview_timed_out(job_id: int, *, seconds: float | None = None) -> ImportJob:
    """The preview ran out of time: the file is too big to check in one go, so checking it again would not help."""
    minutes = time_limit_minutes(seconds)

    def message(job: ImportJob) -> str:
        return ngettext(
            "The check of the file took longer than the time limit of %(minutes)d minute, so it was stopped after "
            "%(done)s rows; nothing was imported. Split the file into smaller files and upload them.",
            "The check of the file took longer than the time limit of %(minutes)d minutes, so it was stopped after "
            "%(done)s rows; nothing was imported. Split the file into smaller files and upload them.",
            minutes,
        ) % {"minutes": minutes, "done": job.previewed_rows}

    return import_job_stop(job_id, stage=None, message=message, only_from=PREVIEW_STATUSES)


def import_apply_timed_out(job_id: int, *, seconds: float | None = None) -> ImportJob:
    """The import ran out of time: the chunks committed stay, and starting it again continues after them."""
    minutes = time_limit_minutes(seconds)

    def message(job: ImportJob) -> str:
        return ngettext(
            "The import stopped after the time limit of %(minutes)d minute, after %(done)s of %(total)s rows; "
            "those rows were imported. Start it again to continue.",
            "The import stopped after the time limit of %(minutes)d minutes, after %(done)s of %(total)s rows; "
            "those rows were imported. Start it again to continue.",
            minutes,
        ) % {"minutes": minutes, "done": job.processed_rows, "total": job.total_rows}

    return import_job_stop(job_id, stage="import", message=message, only_from=(Status.IMPORTING,))


def export_job_timed_out(job_id: int, *, token: str | None = None, seconds: float | None = None) -> ExportJob:
    minutes = time_limit_minutes(seconds)
    message = ngettext(
        "The export took longer than the time limit of %(minutes)d minute, so the file was not made. Narrow the "
        "list with filters and export it again.",
        "The export took longer than the time limit of %(minutes)d minutes, so the file was not made. Narrow the "
        "list with filters and export it again.",
        minutes,
    ) % {"minutes": minutes}
    if token is not None:
        return export_job_fail(job_id, message=message, token=token)
    # Killed at the hard limit: the run's token is gone with its process; only a job still at work is failed.
    ExportJob.objects.filter(pk=job_id, status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING]).update(
        status=ExportJob.Status.FAILED, error_message=message, finished_at=timezone.now(), claim=""
    )
    return ExportJob.objects.get(pk=job_id)


class FileTask(DjangoTask):
    """A task of the files queue: late acknowledgement, the time limits of the settings, and a job that does not
    outlive its process. A DjangoTask, as the app's other tasks are (`delay_on_commit`).

    At the hard time limit the pool kills the process running the task, and Celery calls `on_failure` with
    TimeLimitExceeded in the worker's main process (celery.worker.request.Request.on_timeout); the task is then
    acknowledged, not delivered again. `timed_out(job_id)` fails the job with the time-limit message.
    """

    acks_late = True
    reject_on_worker_lost = True
    soft_time_limit = settings.FILE_TASK_SOFT_TIME_LIMIT  # for a message sent without limits
    time_limit = settings.FILE_TASK_TIME_LIMIT
    timed_out = None  # set per task: a function of the job's id

    def apply_async(self, args=None, kwargs=None, **options):
        # The limits travel in the task's message and the worker applies those first: take them from the sending
        # process's settings when it sends, not from the values read when this module was imported.
        options.setdefault("soft_time_limit", settings.FILE_TASK_SOFT_TIME_LIMIT)
        options.setdefault("time_limit", settings.FILE_TASK_TIME_LIMIT)
        return super().apply_async(args, kwargs, **options)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        if stopped_by_time_limit(exc) and args and self.timed_out is not None:
            logger.error("%s[%s]: stopped at the time limit; job %s failed", self.name, task_id, args[0])
            fresh_connection()  # in the process the soft limit struck, maybe in the middle of a query
            # Killed at the hard limit: TimeLimitExceeded carries it (celery.worker.request.Request.on_timeout).
            hard = exc.args[0] if isinstance(exc, TimeLimitExceeded) and exc.args else None
            self.timed_out(args[0], seconds=hard if isinstance(hard, int | float) else None)


@shared_task(base=FileTask, timed_out=staticmethod(import_preview_timed_out))
def import_preview_task(job_id: int) -> None:
    import_preview_run(job_id)


@shared_task(base=FileTask, timed_out=staticmethod(import_apply_timed_out))
def import_apply_task(job_id: int) -> None:
    try:
        import_apply_run(job_id)
    except ImportRefused as exc:
        # The admin checks before queueing, so the job changed in between. Put it back to where staff can
        # read why and decide; it had not started (the engine refuses before writing anything).
        logger.warning("Import job %s was refused: %s", job_id, exc)
        ImportJob.objects.filter(pk=job_id, status=Status.IMPORTING, processed_rows=0).update(
            status=Status.PREVIEWED, error_message=str(exc)
        )


# --- Background exports ----------------------------------------------------------------------------
# The admin queues `export_job_task` for a list too long to export in a request (exports).


def export_job_run(job_id: int) -> ExportJob | None:
    """Make a queued export's file. A job that is done or failed is left alone (a redelivered task is harmless);
    a refusal (permissions gone, filters no longer valid) or an unexpected error fails it with a message."""
    token = job_claim(
        ExportJob,
        job_id,
        queued=ExportJob.Status.QUEUED,
        running=ExportJob.Status.RUNNING,
        started_at=timezone.now(),
        written_rows=0,
        error_message="",
    )
    if token is None:  # done, failed, or running in another worker that is alive
        return ExportJob.objects.filter(pk=job_id).first()
    job = ExportJob.objects.select_related("created_by").get(pk=job_id)
    try:
        return export_job_write(job=job, token=token)
    except JobSuperseded:
        logger.warning("Export job %s: another run took it over; this one stopped", job_id)
        return ExportJob.objects.get(pk=job_id)
    except ExportRefused as exc:
        logger.warning("Export job %s was refused: %s", job_id, exc)
        return export_job_fail(job_id, message=str(exc), token=token)
    except Exception as exc:
        if stopped_by_time_limit(exc):
            fresh_connection()
            logger.warning("Export job %s reached the time limit", job_id, exc_info=True)
            return export_job_timed_out(job_id, token=token)
        logger.exception("Export job %s stopped unexpectedly", job_id)
        return export_job_fail(
            job_id,
            token=token,
            message=gettext(
                "The export stopped unexpectedly, so the file was not made. Export the list again; if it stops "
                "again, tell the administrator."
            ),
        )


@shared_task(base=FileTask, timed_out=staticmethod(export_job_timed_out))
def export_job_task(job_id: int) -> None:
    export_job_run(job_id)


@shared_task
def export_files_cleanup_task() -> int:
    return export_files_cleanup()


@shared_task
def import_files_cleanup_task() -> int:
    return import_files_cleanup()
