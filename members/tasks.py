"""Background work for staff imports: the preview and the import of an uploaded file, guarded for staff.

The engine (`members.importing`) does the work. These wrappers re-fetch the job, do nothing when it is no longer
in a state they apply to (a redelivered task is harmless), and turn an unexpected error into a message staff can
act on; the traceback goes to the log. The admin calls the same `*_run` functions for small files.
"""

import logging

from celery import shared_task
from django.utils import timezone
from django.utils.translation import gettext

from .exports import ExportRefused, export_files_cleanup, export_job_fail, export_job_write
from .importing import ImportRefused, import_apply, import_files_cleanup, import_preview
from .jobs import JobSuperseded, job_claim
from .models import ExportJob, ImportJob

logger = logging.getLogger(__name__)

Status = ImportJob.Status
# PREVIEWING: the worker may have died mid-preview; the preview takes the job over if so (members.jobs).
PREVIEW_STATUSES = (Status.QUEUED, Status.PREVIEWING)
APPLY_STATUSES = (Status.PREVIEWED, Status.IMPORTING)  # IMPORTING: continue at the checkpoint


def import_preview_run(job_id: int) -> ImportJob | None:
    """Preview a queued job. An unexpected error fails the job with a message and is logged."""
    job = ImportJob.objects.filter(pk=job_id).first()
    if job is None or job.status not in PREVIEW_STATUSES:
        return job
    try:
        return import_preview(job=job)
    except Exception:
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
    except Exception:
        logger.exception("Import job %s: the import stopped unexpectedly", job_id)
        job.refresh_from_db()
        return import_job_stop(
            job_id,
            stage="import",
            message=gettext(
                "The import stopped unexpectedly after %(done)s of %(total)s rows; those rows were imported. "
                "Start it again to continue."
            )
            % {"done": job.processed_rows, "total": job.total_rows},
        )


def import_job_stop(job_id: int, *, stage: str, message: str) -> ImportJob:
    """Fail a job that stopped for a reason outside the file; staff can start it again from `stage`."""
    job = ImportJob.objects.get(pk=job_id)
    job.status = Status.FAILED
    job.error_message = message
    job.finished_at = timezone.now()
    job.options = {**job.options, "stopped_during": stage}
    job.save(update_fields=["status", "error_message", "finished_at", "options"])
    return job


@shared_task(acks_late=True, reject_on_worker_lost=True)
def import_preview_task(job_id: int) -> None:
    import_preview_run(job_id)


@shared_task(acks_late=True, reject_on_worker_lost=True)
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
# The admin queues `export_job_task` for a list too long to export in a request (members.exports).


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
    except Exception:
        logger.exception("Export job %s stopped unexpectedly", job_id)
        return export_job_fail(
            job_id,
            token=token,
            message=gettext(
                "The export stopped unexpectedly, so the file was not made. Export the list again; if it stops "
                "again, tell the administrator."
            ),
        )


@shared_task(acks_late=True, reject_on_worker_lost=True)
def export_job_task(job_id: int) -> None:
    export_job_run(job_id)


@shared_task
def export_files_cleanup_task() -> int:
    return export_files_cleanup()


@shared_task
def import_files_cleanup_task() -> int:
    return import_files_cleanup()
