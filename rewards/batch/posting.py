"""The entry point: a batch of purchases posted in chunks, in this process or split between processes."""

import gc
import itertools
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime

import billiard
from django.db import connection, connections
from django.utils import timezone

from ..config import programme_config
from ..planning import (
    PlanConfig,
)
from ..services import (
    add_months,
)
from .chunk import _post_chunk
from .rows import BatchResult, PurchaseRow, _Context


def purchases_post_batch(
    rows: Iterable[PurchaseRow],
    *,
    now: datetime | None = None,
    chunk_size: int = 5000,
    recalculate_tiers: bool = True,
    workers: int = 1,
    reference: str = "",
    part_started: Callable[[list[PurchaseRow]], None] | None = None,
) -> BatchResult:
    """Record purchases and post their points, as `purchase_post` would for each row in order.

    Posting the same rows again changes nothing: a purchase already recorded under its (source, external id)
    is skipped, also when it is repeated within the batch. Rows for unknown or inactive members and rows
    with invalid amounts are refused and listed in the result; the rest are posted. Chunks already posted
    stay posted if a later chunk fails, and running the whole batch again completes it.

    With `recalculate_tiers=False` every purchase earns at the member's tier as it stands and tiers are
    left to the nightly recalculation. With `workers` above 1 (PostgreSQL, outside a transaction) the rows
    are split by member between that many processes, each with its own database connection (see
    `_post_in_processes`). `reference` goes on every earn entry (e.g. the import that posted it).

    `part_started`, when given, is called with the rows of each part inside the part's transaction, under its
    account locks and before anything is written; what it raises rolls the part back and fails the batch, as a
    database error would. It is the seam through which tests make a part fail (in a worker process too: it is
    inherited by the fork); production code passes nothing.
    """
    if chunk_size < 1 or workers < 1:
        raise ValueError("chunk_size and workers must be at least 1.")
    now = now or timezone.now()
    if (
        workers > 1
        and connection.vendor == "postgresql"
        and not connection.in_atomic_block
        # Forking copies only the calling thread: from a thread (a web server's, Celery's threads pool) another
        # thread's locks would be copied held. Celery's prefork and solo pools run tasks in the main thread.
        and threading.current_thread() is threading.main_thread()
    ):
        return _post_in_processes(
            rows,
            now=now,
            chunk_size=chunk_size,
            recalculate_tiers=recalculate_tiers,
            workers=workers,
            reference=reference,
            part_started=part_started,
        )
    # The same cached configuration purchase_post uses: an import calls this once per chunk.
    config = programme_config()
    settings = config.settings
    context = _Context(
        now=now,
        settings=settings,
        ruleset=config.ruleset,
        tiers=list(config.tiers) if recalculate_tiers else [],
        tiers_by_id={tier.pk: tier for tier in config.tiers},
        window_start=add_months(now, -settings.tier_window_months),
        plan=PlanConfig.at(
            ruleset=config.ruleset, settings=settings, tiers=list(config.tiers) if recalculate_tiers else [], now=now
        ),
        reference=reference,
        part_started=part_started,
    )
    result = BatchResult()
    start = 0
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, chunk_size)):
        result.add(_post_chunk(chunk, start=start, context=context))
        start += len(chunk)
    return result


# --- Several processes ---------------------------------------------------------------------------

# Rows handed out per round, in chunks per process. A round ends when every process is done with it, so a
# member's rows in a later round are posted after those in an earlier one, and memory stays bounded.
ROUND_CHUNKS = 10


def _post_in_processes(
    rows: Iterable[PurchaseRow],
    *,
    now: datetime,
    chunk_size: int,
    recalculate_tiers: bool,
    workers: int,
    reference: str,
    part_started: Callable[[list[PurchaseRow]], None] | None,
) -> BatchResult:
    """Post the rows in `workers` forked processes, each member's rows in one of them, in order.

    Why processes: Python works out the points while PostgreSQL sits idle and the other way round, and
    threads cannot overlap the two (the GIL). Each process posts its members' rows as the single-process
    path does; they never wait for each other, because they lock different accounts. billiard (Celery's
    fork of multiprocessing) can fork from a Celery worker's pool process, where multiprocessing refuses.

    A purchase repeated for two different members lands in two processes: the database's unique key lets
    one of them record it and the other skips it, which is not necessarily the earlier row.
    """
    forking = billiard.get_context("fork")
    result = BatchResult()
    iterator = iter(rows)
    start = 0
    while batch := list(itertools.islice(iterator, chunk_size * workers * ROUND_CHUNKS)):
        parts: list[list[int]] = [[] for _ in range(workers)]
        for offset, row in enumerate(batch):
            parts[row.member_id % workers].append(offset)
        # A forked child must open its own connection, not share the parent's socket.
        connections.close_all()
        running = []
        errors: list[BaseException] = []
        # The children inherit this process's heap: frozen, their collections skip it instead of walking it
        # (and copying every page they touch, as a collection writes to each object it visits).
        gc.freeze()
        try:
            for part in parts:
                if not part:
                    continue
                receiver, sender = forking.Pipe(duplex=False)
                process = forking.Process(
                    target=_post_process,
                    args=(
                        sender,
                        [batch[offset] for offset in part],
                        now,
                        chunk_size,
                        recalculate_tiers,
                        reference,
                        part_started,
                    ),
                    daemon=True,
                )
                process.start()
                sender.close()
                running.append((part, receiver, process))
            for part, receiver, process in running:
                try:
                    status, payload = receiver.recv()
                except EOFError:
                    status, payload = "error", RuntimeError("A batch process ended without a result.")
                process.join()
                if status == "error":
                    errors.append(payload)
                    continue
                # Positions within the part, made positions in the rows given.
                payload.refusals = [replace(r, index=start + part[r.index]) for r in payload.refusals]
                payload.skips = [start + part[index] for index in payload.skips]
                result.add(payload)
        finally:
            # Stopped before every result came back (a time limit, a result that did not unpickle): no child
            # is left posting beside whatever runs next. What a child committed stays; a rerun completes it.
            for _part, receiver, process in running:
                if process.is_alive():
                    process.terminate()
                process.join()
                receiver.close()
            gc.unfreeze()
        if errors:
            raise errors[0]
        start += len(batch)
    result.refusals.sort(key=lambda refusal: refusal.index)
    result.skips.sort()
    return result


def _post_process(
    sender,
    rows: list[PurchaseRow],
    now: datetime,
    chunk_size: int,
    recalculate_tiers: bool,
    reference: str,
    part_started: Callable[[list[PurchaseRow]], None] | None,
) -> None:
    """A forked process's work: post its rows, send back the result or the error."""
    try:
        result = purchases_post_batch(
            rows,
            now=now,
            chunk_size=chunk_size,
            recalculate_tiers=recalculate_tiers,
            reference=reference,
            part_started=part_started,
        )
        sender.send(("ok", result))
    except BaseException as exc:  # re-raised by the parent
        try:
            sender.send(("error", exc))
        except Exception:  # an exception that cannot be pickled: its words are enough
            sender.send(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        connections.close_all()
        sender.close()
