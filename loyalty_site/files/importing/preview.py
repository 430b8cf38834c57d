"""The preview: the whole file validated and counted, nothing written but the job's own record."""

import gc
from collections.abc import Iterator
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from ..jobs import JobSuperseded, job_beat, job_claim
from ..models import ImportJob, ImportRowError
from ..tabular import FileFormatError
from .handlers import ImportHandler, Outcome, Row, handler_for, logger
from .prepared import _prepared_delete, _PreparedWriter
from .reading import PROBLEMS, _chunks, _open_table, _read_lines, _rows

CHUNK_SIZE = 2000


SAMPLE_ROWS = 50


MAX_STORED_ERRORS = 10_000


COLLECT_EVERY_CHUNKS = 50  # 100,000 rows at the default chunk size


def _collector_paused(chunks: Iterator[list[Row]]) -> Iterator[list[Row]]:
    """The chunks, read, checked and counted with Python's cyclic garbage collector paused. A chunk is tens of
    thousands of new objects and a preview leaves (measured) no cyclic garbage; left on, the collector walked
    the new objects again and again, and the whole heap (the purchase keys seen so far, the kept outcomes) at
    each full collection: about a fifth of the preview's CPU time on a 30,000-row purchases file
    (docs/benchmarks.md). A collection of the young generations every COLLECT_EVERY_CHUNKS chunks keeps
    memory bounded should a handler make cycles. The collector's state is restored at the end."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        for number, chunk in enumerate(chunks, 1):
            yield chunk
            if number % COLLECT_EVERY_CHUNKS == 0:
                gc.collect(1)
    finally:
        if enabled:
            gc.enable()


def _prepare(handler: ImportHandler, chunk: list[Row], *, job: ImportJob, seen: set, lines: Any) -> list[Outcome]:
    refused = [(row, row.values.get(PROBLEMS)) for row in chunk]
    if lines is None:
        outcomes = handler.prepare(chunk, job=job, seen=seen)
    else:
        outcomes = handler.prepare(chunk, job=job, seen=seen, lines=lines)
    _fail_refused_cells(handler, chunk, refused, outcomes)
    return outcomes


def _fail_refused_cells(handler: ImportHandler, chunk: list[Row], refused: list, outcomes: list[Outcome]) -> None:
    """The promise of the preview: a row with a cell the database would refuse is invalid, also where the
    handler did not look (`row_problems`), and so are the other rows of its group (a purchase's lines)."""
    group_key = handler.group_key
    spoiled = set()
    for (row, problems), outcome in zip(refused, outcomes[: len(chunk)], strict=True):
        if not problems:
            continue
        row.values.pop(PROBLEMS, None)
        outcome.errors[:0] = [error for error in problems if error not in outcome.errors]
        outcome.action = "invalid"
        if group_key is not None:
            spoiled.add(group_key(row))
    if not spoiled:
        return
    for row, outcome in zip(chunk, outcomes[: len(chunk)], strict=True):
        if outcome.action != "invalid" and group_key(row) in spoiled:
            outcome.fail("", "", gettext("not imported: another row of the same purchase has errors"))


def _record_errors(job: ImportJob, outcomes: list[Outcome], stored: int) -> int:
    errors = []
    for outcome in outcomes:
        for column, value, message in outcome.errors:
            if stored + len(errors) >= MAX_STORED_ERRORS:
                break
            errors.append(
                ImportRowError(job=job, line=outcome.line, column=column, value=value[:255], message=message[:500])
            )
    ImportRowError.objects.bulk_create(errors)
    return stored + len(errors)


def figures_add(figures: dict, more: dict) -> None:
    """Add a handler's figures of a chunk (whole numbers by key) to the job's."""
    for key, value in more.items():
        figures[key] = figures.get(key, 0) + int(value)


def _count(counts: dict, outcomes: list[Outcome]) -> None:
    for outcome in outcomes:
        counts[outcome.action] = counts.get(outcome.action, 0) + 1


def _fail(job: ImportJob, message: str) -> ImportJob:
    # A job staff cancelled meanwhile stays cancelled: that is what they did, and it ends the same way.
    ImportJob.objects.filter(pk=job.pk).exclude(status=ImportJob.Status.CANCELLED).update(
        status=ImportJob.Status.FAILED, error_message=message, finished_at=timezone.now()
    )
    job.refresh_from_db()
    _prepared_delete(job)  # member ids and amounts: kept no longer than the job needs them
    return job


def import_preview(*, job: ImportJob, chunk_size: int = CHUNK_SIZE) -> ImportJob:
    """Validate the whole file and count what it would do. Changes nothing but the job's own record.

    Runs only for a queued job, or one whose preview lost its worker (jobs): a second delivery of
    the task while a preview is running leaves the job to it."""
    handler = handler_for(job.kind)
    token = job_claim(
        ImportJob,
        job.pk,
        queued=ImportJob.Status.QUEUED,
        running=ImportJob.Status.PREVIEWING,
        started_at=timezone.now(),
        previewed_rows=0,
        counts={},
        sample=[],
    )
    if token is None:
        job.refresh_from_db()
        return job
    try:
        return _preview(job, handler, token, chunk_size)
    except JobSuperseded:
        job.refresh_from_db()
        if job.status == ImportJob.Status.CANCELLED:
            logger.info("Import %s: the preview stopped, the job was cancelled", job.pk)
            _prepared_delete(job)
        else:
            logger.warning("Import %s: another run took the preview over; this one stopped", job.pk)
        return job


def _preview(job: ImportJob, handler: ImportHandler, token: str, chunk_size: int) -> ImportJob:
    ImportRowError.objects.filter(job=job).delete()
    _prepared_delete(job)
    prepared = None
    try:
        table = _open_table(job)
        counts: dict[str, int] = {}
        figures: dict[str, int] = {}
        sample: list[dict] = []
        seen: set = set()
        stored = 0
        total = 0
        lines = _read_lines(job, handler)
        prepared = _PreparedWriter(job, chunk_size) if handler.reuses_preview else None
        # A chunk's outcomes are kept one chunk late: the second file's rows no purchase took are known only
        # at the end, and they go with the last chunk (so the import counts them too).
        pending = None
        for chunk in _collector_paused(_chunks(_rows(table), chunk_size, handler.group_key)):
            outcomes = _prepare(handler, chunk, job=job, seen=seen, lines=lines)
            _count(counts, outcomes)
            figures_add(figures, handler.preview_figures(outcomes, job=job))
            # A handler joining a second file returns that file's rows after the chunk's own.
            for row, outcome in zip(chunk, outcomes[: len(chunk)], strict=True):
                if len(sample) < SAMPLE_ROWS:
                    sample.append({"line": row.line, "action": outcome.action, "values": row.values})
            total += len(chunk)
            if prepared is not None:
                if pending is not None:
                    prepared.add(*pending)
                pending = (total, outcomes)
            with transaction.atomic():
                # The beat locks the job's row first: the errors go in only while this run holds the job.
                job_beat(ImportJob, job.pk, token, previewed_rows=total, counts=counts)
                stored = _record_errors(job, outcomes, stored)
        if lines is not None:
            unclaimed = handler.unclaimed_lines(lines)
            _count(counts, unclaimed)
            with transaction.atomic():
                job_beat(ImportJob, job.pk, token)
                stored = _record_errors(job, unclaimed, stored)
            if pending is not None:
                pending = (pending[0], [*pending[1], *unclaimed])
        if prepared is not None:
            if pending is not None:
                prepared.add(*pending)
            prepared.save()
    except FileFormatError as exc:
        with transaction.atomic():
            job_beat(ImportJob, job.pk, token)
            ImportRowError.objects.filter(job=job).delete()
            return _fail(job, str(exc))
    finally:
        job.file.close()
        if prepared is not None:
            prepared.close()
    with transaction.atomic():
        job_beat(
            ImportJob,
            job.pk,
            token,
            status=ImportJob.Status.PREVIEWED,
            total_rows=total,
            previewed_rows=total,
            counts=counts,
            sample=sample,
            encoding=table.encoding,
        )
        job.refresh_from_db()
        extra = {"figures": figures} if figures else {}  # a handler's figures (ImportHandler.preview_figures)
        if prepared is not None:
            extra["prepared_token"] = prepared.token
        if extra:
            job.options = {**job.options, **extra}
            job.save(update_fields=["options"])
    return job
