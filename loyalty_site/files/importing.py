"""The import engine: a file is previewed (validated, counted, nothing written), then applied in chunks.

Each kind of file (members, purchases, refunds, adjustments, ...) is an `ImportHandler` registered here; apps
register their own (members registers members, rewards purchases, refunds, adjustments, partners and rewards),
so this module imports no app of ours.

Why chunks with a checkpoint: a chunk's rows and the job's `processed_rows` commit in one transaction,
so a worker killed mid-file rolls back only the chunk it was in, and the rerun continues from the
checkpoint. Rows are matched on natural keys as well, so even a repeated chunk changes nothing twice.
"""

import csv
import hmac
import io
import itertools
import logging
import pickle
import secrets
import struct
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.core.files import File
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext, ngettext, pgettext

from .jobs import JobSuperseded, job_beat, job_claim
from .models import ImportJob, ImportRowError
from .tabular import FileFormatError, Table, read_table
from .tabular.formulas import neutralise, starts_formula

CHUNK_SIZE = 2000
SAMPLE_ROWS = 50
MAX_STORED_ERRORS = 10_000
BACKGROUND_THRESHOLD_BYTES = 512 * 1024  # above this, preview and import run in a Celery task
PREPARED_FORMAT = "prepared-1"  # change when Outcome or a handler's outcome data changes shape

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Column:
    name: str
    required: bool = False
    help: str = ""
    example: str = ""


@dataclass
class Row:
    line: int
    values: dict[str, str]


@dataclass
class Outcome:
    """What a row would do: new, update, skip (already there, unchanged) or invalid (with errors)."""

    line: int
    action: str
    data: Any = None
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (column, value, message)

    def fail(self, column: str, value: str, message: str) -> None:
        self.errors.append((column, value, message))
        self.action = "invalid"


class ImportHandler:
    """One kind of file. Every capability the engine uses is declared here, with the default a handler that
    does not need it gets; the engine reads these attributes and never asks whether a handler has one.

    Required: `kind`, `label`, `columns`, `permission`, `prepare` and `apply`.
    """

    kind: ClassVar[str]
    label: ClassVar[str]
    columns: ClassVar[list[Column]]
    permission: ClassVar[str]  # the model permission staff need, e.g. "members.add_member"

    # A second file (the purchases import: its line items), with its own columns; None: the kind takes none.
    # A handler that sets it implements `read_lines` and `unclaimed_lines`, and its `prepare` takes `lines=`.
    lines_columns: ClassVar[list[Column] | None] = None
    # Rows that must stay in one chunk and fail together (a purchase's lines): the key of a row, or None.
    group_key: ClassVar[Callable[[Row], Any] | None] = None
    # True when `apply` checks again everything the database may have changed since the preview (the
    # purchases import: its batch finds recorded purchases and inactive members itself). Its preview's
    # outcomes are then kept beside the upload and the import applies them without reading and validating
    # the file a second time, which was a fifth of the import's time.
    reuses_preview: ClassVar[bool] = False
    # A handler that can post a round of chunks in worker processes of its own (`_apply_rounds`) sets this to
    # a method `(outcomes, *, job, workers, round_started) -> bool` (False: nothing was written); None: the
    # engine applies chunk by chunk in its own transactions.
    apply_outside: ClassVar[Callable[..., bool] | None] = None
    # A kind that enrols members: the upload form asks whether they get the joining bonus, and a tick puts
    # this option (True) in the job's options; None: the form does not ask.
    joining_bonus_option: ClassVar[str | None] = None
    # The failed-rows report repeats the file's contact details: it then needs the setting
    # PERSONAL_DATA_PERMISSION, as exports of personal data do.
    personal_data: ClassVar[bool] = False

    def prepare(self, rows: list[Row], *, job: ImportJob, seen: set, lines: Any = None) -> list[Outcome]:
        """Validate and classify a chunk with as few queries as possible. Writes nothing. With a second file,
        `lines` is what `read_lines` returned and the handler may return more outcomes than rows (the second
        file's rows, after the chunk's own); `lines=` is passed only when the job has a second file."""
        raise NotImplementedError

    def apply(self, outcomes: list[Outcome], *, job: ImportJob) -> None:
        """Write the chunk's new and updated rows (bulk), inside the caller's transaction. A row the database
        refuses now (it changed since the preview) is marked invalid with `Outcome.fail`, not written."""
        raise NotImplementedError

    def read_lines(self, rows: Iterable[Row], *, job: ImportJob) -> Any:
        """The state of the whole second file, read once per preview (or re-read import)."""
        raise NotImplementedError

    def unclaimed_lines(self, lines: Any) -> list[Outcome]:
        """The second file's rows no row of the first file took, as errors."""
        raise NotImplementedError

    def consent_versions(self) -> list[str] | None:
        """The versions of the consent text, newest first, when the upload form asks which one the members
        agreed to (a file with consent columns); None: the form does not ask."""
        return None


HANDLERS: dict[str, ImportHandler] = {}
# Columns whose values are personal data, in a file of any kind: the preview's sample shows them masked by
# these functions to staff without the setting PERSONAL_DATA_PERMISSION. Apps add theirs (`mask_column`).
MASKED_COLUMNS: dict[str, Callable[[str], str]] = {}


def mask_column(name: str, mask: Callable[[str], str]) -> None:
    MASKED_COLUMNS[name] = mask


def register(handler: ImportHandler) -> ImportHandler:
    """Register a handler for its `kind`. It derives from `ImportHandler`, whose declared defaults answer for
    what it does not define: the engine never probes a handler for what it has."""
    if not isinstance(handler, ImportHandler):
        raise TypeError(f"{type(handler).__qualname__} must derive from ImportHandler to be registered")
    HANDLERS[handler.kind] = handler
    return handler


def handler_for(kind: str) -> ImportHandler:
    try:
        return HANDLERS[kind]
    except KeyError:
        raise FileFormatError(gettext("Unknown import kind '%(kind)s'.") % {"kind": kind}) from None


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


def _open_table(job: ImportJob) -> Table:
    handler = handler_for(job.kind)
    job.file.open("rb")
    table = read_table(job.file.file, job.original_name)
    return _check_header(table, handler.columns)


def _open_lines_table(job: ImportJob, columns: list[Column]) -> Table:
    """The second file, its header checked like the first's; any problem names the file."""
    try:
        job.lines_file.open("rb")
        table = read_table(job.lines_file.file, job.lines_original_name or job.lines_file.name)
        return _check_header(table, columns)
    except FileFormatError as exc:
        raise FileFormatError(
            gettext("The lines file %(name)s: %(problem)s") % {"name": job.lines_original_name, "problem": exc}
        ) from exc


def _read_lines(job: ImportJob, handler: ImportHandler) -> Any:
    """The handler's state built from the whole second file, or None when the job has none."""
    columns = handler.lines_columns
    if not columns or not job.lines_file:
        return None
    try:
        return handler.read_lines(_rows(_open_lines_table(job, columns)), job=job)
    finally:
        job.lines_file.close()


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


def _check_header(table: Table, columns: list[Column]) -> Table:
    expected = {column.name for column in columns}
    headers = [h.strip().lower() for h in table.headers]
    missing = [c.name for c in columns if c.required and c.name not in headers]
    if missing:
        raise FileFormatError(
            ngettext(
                "Line 1: the required column %(columns)s is missing. The file has: %(found)s.",
                "Line 1: the required columns %(columns)s are missing. The file has: %(found)s.",
                len(missing),
            )
            % {
                "columns": ", ".join(missing),
                "found": _some([h for h in headers if h]) or pgettext("columns in the file", "none"),
            }
        )
    unknown = [h for h in headers if h and h not in expected]
    if unknown:
        raise FileFormatError(
            ngettext(
                "Line 1: unknown column %(columns)s. Allowed: %(allowed)s.",
                "Line 1: unknown columns %(columns)s. Allowed: %(allowed)s.",
                len(unknown),
            )
            % {"columns": _some(unknown), "allowed": ", ".join(sorted(expected))}
        )
    table.headers = headers
    return table


def _some(names: list[str], shown: int = 10) -> str:
    """The first few of a list of names from a file: a header of a million columns makes a short message."""
    text = ", ".join(name[:60] for name in names[:shown])
    if len(names) > shown:
        text += " " + gettext("and %(count)d more") % {"count": len(names) - shown}
    return text


def row_problems(values: dict, outcome: "Outcome") -> None:
    """Fail the outcome for the cells the engine refused before the handler saw them (`_rows`). `prepare`'s rows
    get this from the engine afterwards (`_fail_refused_cells`); a handler calls it for the rows the engine
    never sees an outcome of (the second file's, in `read_lines`)."""
    for column, value, message in values.pop(PROBLEMS, ()):
        outcome.fail(column, value, message)


PROBLEMS = "__problems__"


def _cell_problem(column: str, value: str) -> tuple[str, str, str]:
    # PostgreSQL refuses NUL in text, so such a cell would pass the preview and break the import part-way.
    return (
        column,
        value.replace("\x00", "\\0")[:60],
        gettext("contains a NUL character (binary data); the database cannot store it"),
    )


def _rows(table: Table) -> Iterator[Row]:
    width = len(table.headers)
    for line, raw in table.numbered_rows:
        if not any(cell.strip() for cell in raw):
            continue  # blank lines are not rows
        if len(raw) > width and any(cell.strip() for cell in raw[width:]):
            values = dict(zip(table.headers, raw, strict=False))
            values["__extra__"] = gettext("%(cells)d cells, the header has %(width)d") % {
                "cells": len(raw),
                "width": width,
            }
        else:
            values = dict(zip(table.headers, [*raw, *[""] * (width - len(raw))], strict=False))
        cleaned = {k: _unguard((v or "").strip()) for k, v in values.items()}
        # One search of the row's text for a NUL (a row of text is rarely binary); the cells only when found.
        if "\x00" in "".join(cleaned.values()):
            problems = [_cell_problem(k, v) for k, v in cleaned.items() if "\x00" in v]
            for column, _value, _message in problems:
                cleaned[column] = ""  # handlers never see the value; the row is failed for it
            cleaned[PROBLEMS] = problems
        yield Row(line=line, values=cleaned)


def _unguard(value: str) -> str:
    """Our exports prefix formula-like text with ' (exports.neutralise); a re-imported export drops it."""
    if len(value) > 1 and value[0] == "'" and starts_formula(value[1:]):
        return value[1:]
    return value


def _chunks(rows: Iterable[Row], size: int, group_key=None) -> Iterator[list[Row]]:
    """Chunks of about `size` rows; rows sharing a group key (a purchase's lines) stay in one chunk."""
    iterator = iter(rows)
    pending: list[Row] = []
    while True:
        chunk = pending + list(itertools.islice(iterator, size - len(pending)))
        pending = []
        if not chunk:
            return
        if group_key is not None:
            last = group_key(chunk[-1])
            for row in iterator:
                if group_key(row) != last:
                    pending = [row]
                    break
                chunk.append(row)
        yield chunk


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
        sample: list[dict] = []
        seen: set = set()
        stored = 0
        total = 0
        lines = _read_lines(job, handler)
        prepared = _PreparedWriter(job, chunk_size) if handler.reuses_preview else None
        # A chunk's outcomes are kept one chunk late: the second file's rows no purchase took are known only
        # at the end, and they go with the last chunk (so the import counts them too).
        pending = None
        for chunk in _chunks(_rows(table), chunk_size, handler.group_key):
            outcomes = _prepare(handler, chunk, job=job, seen=seen, lines=lines)
            _count(counts, outcomes)
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
        if prepared is not None:
            job.options = {**job.options, "prepared_token": prepared.token}
            job.save(update_fields=["options"])
    return job


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
            locked.processed_rows = position
            locked.options = {**locked.options, "applied": applied_counts}
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
        locked.processed_rows = position
        locked.options = {**locked.options, "applied": applied_counts}
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


# --- The preview's outcomes, kept for the import ----------------------------------------------------
# A file beside the upload: per chunk a record of [length][HMAC-SHA256][position][pickled outcomes]. The
# HMAC (keyed with SECRET_KEY) is checked before anything is unpickled, so only what this code wrote is
# ever loaded; a record that fails the check, or a file from another format, is ignored and the import
# reads the upload again instead.

_HEADER = struct.Struct(">I32sQ")


def _prepared_name(job: ImportJob) -> str:
    # A folder of its own, named by the job: never beside uploads, whose names staff choose.
    return f"imports/prepared/{job.pk}.prepared"


def _signature(job: ImportJob, token: str, position: int, payload: bytes) -> bytes:
    # Bound to the job and to this preview's token (kept in job.options): a record copied from another job
    # or from an earlier preview of this one does not verify.
    message = f"{job.pk}:{token}:".encode() + struct.pack(">Q", position) + payload
    return salted_hmac(PREPARED_FORMAT, message, algorithm="sha256").digest()


class _PreparedWriter:
    def __init__(self, job: ImportJob, chunk_size: int):
        self.job = job
        self.token = secrets.token_hex(16)
        self.buffer = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close(), after save())
        self.buffer.write(_prepared_start(chunk_size))

    def add(self, position: int, outcomes: list[Outcome]) -> None:
        # Rows the import will not write keep only what it counts: their action.
        kept = [o if o.action in ("new", "update") else Outcome(line=o.line, action=o.action) for o in outcomes]
        payload = pickle.dumps(kept, protocol=pickle.HIGHEST_PROTOCOL)
        self.buffer.write(_HEADER.pack(len(payload), _signature(self.job, self.token, position, payload), position))
        self.buffer.write(payload)

    def save(self) -> None:
        self.buffer.seek(0)
        storage = self.job.file.storage
        name = _prepared_name(self.job)
        if storage.exists(name):
            storage.delete(name)
        storage.save(name, File(self.buffer, name=name))

    def close(self) -> None:
        self.buffer.close()


def _prepared_start(chunk_size: int) -> bytes:
    # Chunks end where the preview's ended; an import asked to chunk otherwise reads the file again.
    return PREPARED_FORMAT.encode().ljust(16) + struct.pack(">Q", chunk_size)


def _prepared_read(job: ImportJob, chunk_size: int) -> Iterator[tuple[int, list[Outcome]]] | None:
    """The kept outcomes, or None (the import then reads the upload again) unless the whole file is intact:
    every record signed for this job and preview, positions rising, the last one the file's last row."""
    token = job.options.get("prepared_token")
    if not token:
        return None
    storage = job.file.storage
    name = _prepared_name(job)
    start = _prepared_start(chunk_size)
    try:
        with storage.open(name, "rb") as handle:
            intact = _prepared_intact(job, token, handle, start)
    except OSError:
        return None
    if not intact:
        logger.warning("Import %s: the kept preview is incomplete or altered; the upload is read again", job.pk)
        return None

    def records() -> Iterator[tuple[int, list[Outcome]]]:
        with storage.open(name, "rb") as handle:
            handle.read(len(start))
            while header := handle.read(_HEADER.size):
                length, signature, position = _HEADER.unpack(header)
                payload = handle.read(length)
                if not hmac.compare_digest(signature, _signature(job, token, position, payload)):
                    # Changed since it was checked a moment ago: stop rather than guess.
                    raise FileFormatError(
                        gettext("The checked file kept for this import is damaged. Upload the file again.")
                    )
                if position <= job.processed_rows:
                    yield position, []  # applied before an interruption: skipped without unpickling
                    continue
                yield position, pickle.loads(payload)  # noqa: S301 (signed above: only our own records)

    return records()


def _prepared_intact(job: ImportJob, token: str, handle, start: bytes) -> bool:
    if handle.read(len(start)) != start:
        return False
    last = 0
    while header := handle.read(_HEADER.size):
        if len(header) != _HEADER.size:
            return False
        length, signature, position = _HEADER.unpack(header)
        payload = handle.read(length)
        if len(payload) != length or position <= last:
            return False
        if not hmac.compare_digest(signature, _signature(job, token, position, payload)):
            return False
        last = position
    return last == job.total_rows


def _prepared_delete(job: ImportJob) -> None:
    if not job.file:
        return
    storage = job.file.storage
    name = _prepared_name(job)
    try:
        if storage.exists(name):
            storage.delete(name)
    except OSError:
        logger.warning("Import %s: could not delete %s", job.pk, name)


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
