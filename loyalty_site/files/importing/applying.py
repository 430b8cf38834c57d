"""The import: the preview's outcomes applied in chunks with a checkpoint, or in rounds split between
processes; and cancelling a job."""

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from ..models import ImportJob, ImportRowError
from ..tabular import FileFormatError
from .handlers import ImportHandler, Outcome, handler_for, logger
from .prepared import _prepared_delete, _prepared_read
from .preview import CHUNK_SIZE, _count, _fail, _prepare, _record_errors, figures_add
from .reading import _chunks, _open_table, _read_lines, _rows


class ImportRefused(ValueError):
    pass


CANCELLABLE = (
    ImportJob.Status.QUEUED,
    ImportJob.Status.PREVIEWING,
    ImportJob.Status.PREVIEWED,
    ImportJob.Status.IMPORTING,
)


def import_cancel(*, job: ImportJob, user: Any) -> ImportJob:
    """Stop a job for good: a preview stops at its next chunk and writes nothing more; an import stops before
    its next chunk (or, posting in rounds, after the round under way) and keeps the whole chunks committed
    before. Clearing the claim is what stops a running preview (jobs)."""
    with transaction.atomic():
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        if locked.status not in CANCELLABLE:
            raise ImportRefused(
                gettext("This import is '%(status)s' and can no longer be cancelled.")
                % {"status": locked.get_status_display()}
            )
        locked.options = {
            **{key: value for key, value in locked.options.items() if key != "stopped_during"},
            "cancelled_by": getattr(user, "pk", None),
            "cancelled_during": locked.status,
        }
        locked.status = ImportJob.Status.CANCELLED
        locked.claim = ""
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "claim", "finished_at", "options"])
    logger.info("Import %s cancelled by user %s", job.pk, getattr(user, "pk", None))
    _prepared_delete(locked)
    job.refresh_from_db()
    return job


def _cancelled(locked: ImportJob) -> bool:
    return locked.status == ImportJob.Status.CANCELLED


APPLICABLE = (ImportJob.Status.PREVIEWED, ImportJob.Status.IMPORTING)


def import_apply(*, job: ImportJob, chunk_size: int = CHUNK_SIZE) -> ImportJob:
    """Apply a previewed file chunk by chunk. Rerunning after an interruption continues at the checkpoint."""
    handler = handler_for(job.kind)
    job.refresh_from_db()
    if job.status not in APPLICABLE:
        raise ImportRefused(
            gettext("This import is '%(status)s': only a previewed file can be imported.")
            % {"status": job.get_status_display()}
        )
    if job.invalid_rows and not job.only_valid_rows:
        raise ImportRefused(
            ngettext(
                "The file has %(count)d invalid row. Correct it and upload again, "
                "or choose to import only the valid rows.",
                "The file has %(count)d invalid rows. Correct them and upload again, "
                "or choose to import only the valid rows.",
                job.invalid_rows,
            )
            % {"count": job.invalid_rows}
        )
    if not ImportJob.objects.filter(pk=job.pk, status__in=APPLICABLE).update(status=ImportJob.Status.IMPORTING):
        job.refresh_from_db()
        return job  # cancelled in the meantime
    try:
        workers = import_workers()
        # Processes need their own transactions: not on SQLite, nor inside a caller's transaction. And a file
        # of less than a round (every file small enough to be imported in the web request) is not worth forking.
        if (
            handler.apply_outside is not None
            and workers > 1
            and job.total_rows > ROUND_ROWS
            and connection.vendor == "postgresql"
            and not connection.in_atomic_block
        ):
            _apply_rounds(job, handler, chunk_size, workers)
        else:
            _apply_chunks(job, handler, chunk_size)
    except FileFormatError as exc:
        return _fail(job, str(exc))
    finally:
        job.file.close()
    ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.IMPORTING).update(
        status=ImportJob.Status.DONE, finished_at=timezone.now()
    )
    _prepared_delete(job)
    job.refresh_from_db()
    return job


def _apply_chunks(job: ImportJob, handler: ImportHandler, chunk_size: int) -> None:
    """Each chunk in one transaction with the checkpoint: an interrupted import continues at the checkpoint and
    no row is applied twice."""
    done = job.processed_rows
    for position, planned in _planned_chunks(job, handler, chunk_size):
        if position <= done:
            continue  # committed before an interruption
        with transaction.atomic():
            locked = ImportJob.objects.select_for_update().get(pk=job.pk)
            if _cancelled(locked):
                return  # staff cancelled it: the chunks committed before stay, nothing more is written
            if locked.processed_rows >= position:
                continue  # another worker got here first
            outcomes = planned() if callable(planned) else planned
            first_line = outcomes[0].line if outcomes else 0
            _refuse_changed(job, outcomes, first_line)
            handler.apply([o for o in outcomes if o.action in ("new", "update")], job=job)
            _refuse_changed(job, outcomes, first_line)
            # Added to the counts as committed (read under the lock), not to a copy held since the start:
            # another worker may have applied chunks meanwhile.
            applied_counts = dict(locked.options.get("applied", {}))
            _count(applied_counts, outcomes)
            applied_figures = dict(locked.options.get("applied_figures", {}))
            figures_add(applied_figures, handler.applied_figures(outcomes, job=job))
            locked.processed_rows = position
            locked.options = {**locked.options, "applied": applied_counts, "applied_figures": applied_figures}
            locked.save(update_fields=["processed_rows", "options"])


# --- Rounds in processes --------------------------------------------------------------------------------
# A handler whose writes are matched on natural keys, so that writing a row again changes nothing (the
# purchases import: nothing is posted twice), may offer
# `apply_outside(outcomes, *, job, workers, round_started) -> bool`.
# On PostgreSQL the import then posts a round of chunks at a time outside its own transaction, split between
# `IMPORT_WORKERS` processes (rewards.batch), and moves the checkpoint after the round. Posting is most of
# an import's time, and one process leaves a core idle. An import stopped in the middle of a round posts the
# round again when it continues: the rows it had posted (recorded for the same member since the round first
# started, `_round_started`) are not posted again and still count as new.

ROUND_ROWS = 20_000


IMPORT_WORKERS = 2


def import_workers() -> int:
    return int(getattr(settings, "IMPORT_WORKERS", IMPORT_WORKERS))


def _apply_rounds(job: ImportJob, handler: ImportHandler, chunk_size: int, workers: int) -> None:
    done = start = job.processed_rows
    pending: list[tuple[int, list[Outcome]]] = []
    rows = 0
    for position, planned in _planned_chunks(job, handler, chunk_size):
        if position <= done:
            continue  # committed before an interruption
        outcomes = planned() if callable(planned) else planned
        pending.append((position, outcomes))
        rows += len(outcomes)
        if rows >= ROUND_ROWS:
            if not _apply_round(job, handler, pending, workers, start=start):
                return
            pending, rows, start = [], 0, position
    if pending:
        _apply_round(job, handler, pending, workers, start=start)


def _apply_round(
    job: ImportJob, handler: ImportHandler, chunks: list[tuple[int, list[Outcome]]], workers: int, *, start: int
) -> bool:
    """Post the chunks after row `start` (a position in the file) and move the checkpoint past them. Returns
    False when staff cancelled the job: before the round nothing of it is posted; a cancel that arrives while
    the round is being posted takes effect after it (its processes commit as they go), with the rows counted."""
    if _cancelled(ImportJob.objects.get(pk=job.pk)):
        return False
    outcomes = [outcome for _, chunk in chunks for outcome in chunk]
    first_line = outcomes[0].line if outcomes else 0
    position = chunks[-1][0]
    _refuse_changed(job, outcomes, first_line)
    writes = [o for o in outcomes if o.action in ("new", "update")]
    if not handler.apply_outside(writes, job=job, workers=workers, round_started=_round_started(job, position)):
        _refuse_changed(job, outcomes, first_line)  # nothing of the round was written
    with transaction.atomic():
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        if locked.processed_rows >= position:
            return True  # another worker applied this round and counted it
        applied_counts = dict(locked.options.get("applied", {}))
        _count(applied_counts, outcomes)
        applied_figures = dict(locked.options.get("applied_figures", {}))
        figures_add(applied_figures, handler.applied_figures(outcomes, job=job))
        locked.processed_rows = position
        locked.options = {**locked.options, "applied": applied_counts, "applied_figures": applied_figures}
        locked.save(update_fields=["processed_rows", "options"])
    # A member suspended while the round was being posted: the rest of the round is in, these rows are not.
    # The round's last line of the purchases file: a chunk's outcomes are its rows', then any of the second
    # file's (the last chunk's lines nobody claimed), whose line numbers are that file's.
    last_position, last_outcomes = chunks[-1]
    own = last_outcomes[: last_position - (chunks[-2][0] if len(chunks) > 1 else start)]
    _refuse_changed(job, outcomes, first_line, posted_up_to=own[-1].line if own else first_line)
    return not _cancelled(locked)


def _round_started(job: ImportJob, position: int) -> datetime:
    """When the round ending at `position` was first posted, kept with the job: a round posted again after an
    interruption recognises what it recorded the first time (rounds, below)."""
    with transaction.atomic():
        locked = ImportJob.objects.select_for_update().get(pk=job.pk)
        kept = locked.options.get("round") or {}
        if kept.get("position") == position:
            return datetime.fromisoformat(kept["started"])
        started = timezone.now()
        locked.options = {**locked.options, "round": {"position": position, "started": started.isoformat()}}
        locked.save(update_fields=["options"])
        return started


def _refuse_changed(
    job: ImportJob, outcomes: list[Outcome], first_line: int, *, posted_up_to: int | None = None
) -> None:
    """Rows valid in the preview but refused now: the database changed since. Refuse rather than
    half-apply the file (the chunk rolls back), unless staff chose to import only the valid rows.
    `posted_up_to`: the round was posted but for the refused rows, up to that line."""
    if job.only_valid_rows:
        return
    bad = next((o for o in outcomes if o.action == "invalid"), None)
    if bad is None:
        return
    column, _value, message = bad.errors[0]
    values = {"line": bad.line, "column": column, "message": message.rstrip(".")}
    if posted_up_to is None:
        text = gettext(
            "Line %(line)d, column %(column)s: %(message)s (changed since the preview). "
            "Rows before line %(first_line)d were imported; upload the rest again."
        )
        raise FileFormatError(text % {**values, "first_line": first_line})
    # Posted but for these rows: every one of them is named, and they go into the failed-rows report.
    refused = [o for o in outcomes if o.action == "invalid"]
    _record_errors(job, refused, ImportRowError.objects.filter(job=job).count())
    lines = ", ".join(str(o.line) for o in refused[:20]) + (", …" if len(refused) > 20 else "")
    text = ngettext(
        "Line %(line)d, column %(column)s: %(message)s (changed while the file was imported). The other rows up "
        "to line %(last_line)d were imported; upload line %(lines)s and the rows after line %(last_line)d again.",
        "Line %(line)d, column %(column)s: %(message)s (changed while the file was imported); %(count)d rows "
        "were refused so. The other rows up to line %(last_line)d were imported; upload lines %(lines)s and the "
        "rows after line %(last_line)d again (the failed-rows report lists them).",
        len(refused),
    )
    raise FileFormatError(text % {**values, "last_line": posted_up_to, "lines": lines, "count": len(refused)})


def _planned_chunks(job: ImportJob, handler: ImportHandler, chunk_size: int) -> Iterator[tuple[int, Any]]:
    """(rows up to the end of the chunk, its outcomes or a function that works them out) per chunk: the
    preview's outcomes when they were kept and are intact, otherwise the file read and validated again."""
    if handler.reuses_preview:
        chunks = _prepared_read(job, chunk_size)
        if chunks is not None:
            yield from chunks
            return
    table = _open_table(job)
    lines = _read_lines(job, handler)
    seen: set = set()
    position = 0
    prepared = [0]  # chunks validated in this run
    chunks = _chunks(_rows(table), chunk_size, handler.group_key)
    chunk = next(chunks, None)
    index = 0
    while chunk is not None:
        following = next(chunks, None)
        position += len(chunk)
        index += 1

        def planned(chunk=chunk, last=following is None, index=index) -> list[Outcome]:
            outcomes = _prepare(handler, chunk, job=job, seen=seen, lines=lines)
            prepared[0] += 1
            # The second file's rows no purchase took, counted as the preview did; not after an interruption,
            # when the chunks applied before it did not take their lines in this run.
            if last and lines is not None and prepared[0] == index:
                outcomes += handler.unclaimed_lines(lines)
            return outcomes

        yield position, planned
        chunk = following
