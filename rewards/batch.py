"""Posting points for many purchases in one job: the result of `purchase_post` row by row, written in bulk.

A chunk of rows is one transaction. It finds the purchases already recorded, locks the accounts it will
credit in member order (the lock every writer of points takes, so single posts from tills can run beside
it), works out each row's points in memory with the rules loaded once, and writes purchases, lines, ledger
entries and lots in bulk (COPY on PostgreSQL, multi-row INSERTs elsewhere) and the accounts with one UPDATE.

Row by row means: a member's tier can rise during the batch (a purchase that crosses a threshold earns
the next purchase the higher multiplier), as `purchase_post` recalculates the tier after each purchase.
The batch follows the tier in memory, mirroring `tier_recalculate`, and writes the tiers and tier changes
with the chunk. The tests compare the batch with `purchase_post` row by row, so the mirrors cannot drift
unnoticed.

What a part wrote is announced (loyalty_site.hooks) as `purchase_post` announces it, in sets: one
PurchasePosted per purchase recorded anew and one TierChanged per tier change, each type in one call per
committed part, at the end of the part's transaction. Nothing is built while nobody listens.
"""

import gc
import itertools
import threading
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

import billiard
from django.db import IntegrityError, OperationalError, connection, connections, models, transaction
from django.db.models import F, OuterRef, Subquery, Sum
from django.utils import timezone

from loyalty_site.db import any_of
from loyalty_site.hooks import announce, has_receivers
from members.models import Member, Purchase, PurchaseLine
from members.services import LineData

from .config import programme_config
from .earning import RuleSet
from .events import PurchasePosted, TierChanged
from .models import LedgerEntry, PointsAccount, PointsLot, ProgramSettings, Tier, TierChange
from .planning import (
    MEMBER,
    POINTS,
    RECORDED,
    SPEND,
    PlanConfig,
    Problem,
    PurchasePlan,
    Standing,
    plan_purchase,
    purchase_problems,
)
from .services import (
    add_months,
    purchase_categories,
    purchase_earn_key,
)

RETRIES = 3
ZERO = Decimal("0")
AVAILABLE = LedgerEntry.Bucket.AVAILABLE.value
PENDING = LedgerEntry.Bucket.PENDING.value
EARN = LedgerEntry.Kind.EARN.value
ACCOUNT_FIELDS = ("id", "member_id", "balance", "pending", "tier_id", "tier_since", "tier_below_since")
ENTRY_COLUMNS = (
    "id",
    "member_id",
    "kind",
    "bucket",
    "points",
    "reason",
    "purchase_id",
    "reference",
    "rules",
    "actor_id",
    "idempotency_key",
    "available_at",
    "created_at",
)


@dataclass(frozen=True)
class PurchaseRow:
    member_id: int
    source: str
    external_id: str
    amount: Decimal
    purchased_at: datetime
    store: str = "online"
    lines: tuple[LineData, ...] = ()


@dataclass(frozen=True)
class Refusal:
    """A row that was not posted, and why, in words for the staff member who sent the file."""

    index: int  # position in the rows given, from 0
    source: str
    external_id: str
    reason: str
    about: str = "member"  # what is wrong: "member", "external_id" (recorded for another member) or "row"


@dataclass
class BatchResult:
    created: int = 0  # purchases recorded
    skipped: int = 0  # recorded before (an earlier run, or earlier in this batch): nothing posted again
    points: int = 0  # points credited, pending and available
    entries: int = 0  # ledger entries written
    refused: int = 0  # rows refused: unknown or inactive member, invalid amounts
    tier_changes: int = 0  # TierChange rows written
    refusals: list[Refusal] = field(default_factory=list)
    skips: list[int] = field(default_factory=list)  # positions (from 0) of the rows skipped

    def add(self, other: "BatchResult") -> None:
        self.created += other.created
        self.skipped += other.skipped
        self.points += other.points
        self.entries += other.entries
        self.refused += other.refused
        self.tier_changes += other.tier_changes
        self.refusals.extend(other.refusals)
        self.skips.extend(other.skips)


@dataclass
class _Context:
    """What every chunk needs and the batch loads once."""

    now: datetime
    settings: ProgramSettings
    ruleset: RuleSet
    tiers: list[Tier]  # empty: tiers are left as they are
    tiers_by_id: dict[int, Tier]
    window_start: datetime
    plan: PlanConfig
    reference: str = ""


@dataclass(slots=True)
class _Account:
    """A locked PointsAccount row as plain values: thousands are read per chunk."""

    id: int
    member_id: int
    balance: int
    pending: int
    tier_id: int | None
    tier_since: datetime | None
    tier_below_since: datetime | None
    changed: bool = False


@dataclass
class _TierState:
    """A member's tier as `tier_recalculate` leaves it after each purchase, and the figures behind it."""

    tier: Tier | None
    below_since: datetime | None
    spend: Decimal
    points: Decimal
    changed: bool = False
    tier_changed: bool = False
    settled: bool = False  # in the top tier and qualified for it: more purchases cannot move it
    history: list[tuple[Tier | None, Tier, str]] = field(default_factory=list)


class _Lot(NamedTuple):
    entry: int  # index into the chunk's entries
    member_id: int
    points: int
    earned_at: datetime
    expires_at: datetime | None


@dataclass
class _Writes:
    """What a chunk writes. On PostgreSQL the ids are drawn beforehand and entries are streamed as made."""

    purchase_ids: list[int] | None = None
    entry_ids: list[int] | None = None
    entries: list[tuple] = field(default_factory=list)  # rows in ENTRY_COLUMNS order, id filled in on write
    entry_purchase: list[int] = field(default_factory=list)  # index into the chunk's rows to post, per entry
    lots: list[_Lot] = field(default_factory=list)
    points: dict[int, list[int]] = field(default_factory=dict)  # member_id -> [available, pending] credited


def purchases_post_batch(
    rows: Iterable[PurchaseRow],
    *,
    now: datetime | None = None,
    chunk_size: int = 5000,
    recalculate_tiers: bool = True,
    workers: int = 1,
    reference: str = "",
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
        try:
            for part in parts:
                if not part:
                    continue
                receiver, sender = forking.Pipe(duplex=False)
                process = forking.Process(
                    target=_post_process,
                    args=(sender, [batch[offset] for offset in part], now, chunk_size, recalculate_tiers, reference),
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
        if errors:
            raise errors[0]
        start += len(batch)
    result.refusals.sort(key=lambda refusal: refusal.index)
    result.skips.sort()
    return result


def _post_process(
    sender, rows: list[PurchaseRow], now: datetime, chunk_size: int, recalculate_tiers: bool, reference: str
) -> None:
    """A forked process's work: post its rows, send back the result or the error."""
    try:
        result = purchases_post_batch(
            rows, now=now, chunk_size=chunk_size, recalculate_tiers=recalculate_tiers, reference=reference
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


# --- One process ---------------------------------------------------------------------------------


class _Candidate(NamedTuple):
    index: int  # position in the rows given to the batch
    row: PurchaseRow
    problem: Problem | None  # why purchase_problems refuses it, unless it turns out recorded already
    number: str  # the member's number, to name them when another row claims the same purchase


def _post_chunk(chunk: list[PurchaseRow], *, start: int, context: _Context) -> BatchResult:
    """Sort out the rows of refused members, then post the rest in one transaction."""
    result = BatchResult()
    members = {
        pk: (status, number)
        for queryset in any_of(Member.objects.all(), "pk", sorted({row.member_id for row in chunk}))
        for pk, status, number in queryset.values_list("pk", "status", "member_number")
    }
    candidates: list[_Candidate] = []
    for offset, row in enumerate(chunk):
        # purchase_post's checks in its order: the member first, then (_post_part, under the account locks)
        # the purchase recorded already, here or in the database, then the amounts.
        status, number = members.get(row.member_id, (None, ""))
        problems = _row_problems(row, status=status, number=number)
        if problems and problems[0].about == MEMBER:
            result.refusals.append(Refusal(start + offset, row.source, row.external_id, problems[0].message))
        else:
            candidates.append(_Candidate(start + offset, row, problems[0] if problems else None, number))
    if candidates:
        result.add(_post_part_with_retry(candidates, context))
    result.refusals.sort(key=lambda refusal: refusal.index)
    result.skips.sort()
    result.refused = len(result.refusals)
    return result


def _post_part_with_retry(candidates: list[_Candidate], context: _Context) -> BatchResult:
    for attempt in range(1, RETRIES + 1):
        try:
            with transaction.atomic():
                return _post_part(candidates, context)
        except IntegrityError:
            # One of these purchases was recorded meanwhile for another member (whose account we do not
            # lock): the retry finds it recorded and skips it, as purchase_post would.
            if attempt == RETRIES:
                raise
        except OperationalError as exc:
            if attempt == RETRIES or getattr(exc.__cause__, "sqlstate", None) not in {"40P01", "40001"}:
                raise
    raise AssertionError("unreachable")


def _post_part(candidates: list[_Candidate], context: _Context) -> BatchResult:
    """Lock the members' accounts, skip what is recorded already, work out the points, write everything.
    Runs in one transaction."""
    result = BatchResult()
    accounts = _lock_accounts(sorted({c.row.member_id for c in candidates if c.problem is None}))
    # Under the locks no till can record a purchase for these members until we commit.
    # Who each purchase is recorded for: in the database, or by an earlier row here, as posting the rows
    # one by one would leave it.
    recorded = recorded_purchases((c.row.source, c.row.external_id) for c in candidates)
    owners = {key: (member_id, number) for key, (member_id, number, _at) in recorded.items()}
    rows = []
    for candidate in candidates:
        row = candidate.row
        key = (row.source, row.external_id)
        owner = owners.get(key)
        if owner is not None and owner[0] != row.member_id:
            # purchase_post refuses a receipt recorded for someone else; so does the batch.
            problem = _row_problems(row, owner=owner)[0]
            refusal = Refusal(candidate.index, row.source, row.external_id, problem.message, "external_id")
            result.refusals.append(refusal)
        elif owner is not None:
            result.skipped += 1
            result.skips.append(candidate.index)
        elif candidate.problem is not None:
            problem = candidate.problem
            result.refusals.append(Refusal(candidate.index, row.source, row.external_id, problem.message, "row"))
        else:
            rows.append(row)
            owners[key] = (row.member_id, candidate.number)
    if not rows:
        return result
    accounts = {member_id: accounts[member_id] for member_id in sorted({row.member_id for row in rows})}
    tier_states = _tier_states(accounts, context) if context.tiers else {}
    writes = _Writes()
    if connection.vendor == "postgresql":
        writes.purchase_ids = _allocate_ids(Purchase, len(rows))
        writes.entry_ids = _allocate_ids(LedgerEntry, len(rows))
        # The ledger is the widest table: COPY it while the points are worked out, so the database
        # indexes entries while Python calculates. Foreign keys are checked at commit.
        with _copy(LedgerEntry, ENTRY_COLUMNS) as copy:
            _calculate(rows, accounts, tier_states, context, writes, emit=copy.write_row)
    else:
        _calculate(rows, accounts, tier_states, context, writes, emit=None)
    purchase_ids = _write(rows, writes)
    result.tier_changes = _update_accounts(accounts, writes.points, tier_states, context)
    # Last in the transaction, after every write of the part: an attempt that fails on a write (a deadlock, a
    # purchase recorded meanwhile) has announced nothing, and what receivers write sees the part complete.
    _announce(rows, purchase_ids, writes, tier_states, context)
    result.created = len(rows)
    result.entries = len(writes.entries)
    result.points = sum(available + pending for available, pending in writes.points.values())
    return result


def _calculate(
    rows: list[PurchaseRow],
    accounts: dict[int, _Account],
    tier_states: dict[int, _TierState],
    context: _Context,
    writes: _Writes,
    emit,
) -> None:
    """Each row's rewards.planning.plan_purchase, as purchase_post plans it, written as the part's entries and
    lots, with the tier moving as it would between purchases."""
    plan_config = context.plan
    for index, row in enumerate(rows):
        state = tier_states.get(row.member_id)
        following = state is not None and not state.settled
        if state is None:
            standing = Standing(context.tiers_by_id.get(accounts[row.member_id].tier_id))
        elif following:
            standing = Standing(state.tier, state.below_since, {SPEND: state.spend, POINTS: state.points})
        else:
            standing = Standing(state.tier)
        plan = plan_purchase(
            external_id=row.external_id,
            amount=row.amount,
            store=row.store or "online",
            purchased_at=row.purchased_at,
            lines=row.lines,  # LineData has the amount, sku and category that earning.Line has
            standing=standing,
            config=plan_config,
        )
        if following:
            _tier_follow(state, plan=plan, context=context)
        points = plan.points
        if points <= 0:
            continue
        position = len(writes.entries)
        entry = (
            writes.entry_ids[position] if writes.entry_ids else None,
            row.member_id,
            EARN,
            plan.bucket,
            points,
            plan.reason[:255],
            writes.purchase_ids[index] if writes.purchase_ids else None,
            context.reference,
            plan.rules,
            None,  # actor_id
            purchase_earn_key(row),  # reads .source and .external_id, which the row has
            plan.available_at,
            row.purchased_at,
        )
        if emit is not None:
            emit(entry)
        writes.entries.append(entry)
        writes.entry_purchase.append(index)
        credited = writes.points.setdefault(row.member_id, [0, 0])
        if plan.bucket == PENDING:
            credited[1] += points
        else:
            credited[0] += points
            writes.lots.append(_Lot(position, row.member_id, points, row.purchased_at, plan.expires_at))


def _row_problems(
    row: PurchaseRow, *, status: str | None = None, number: str = "", owner: tuple[int, str] | None = None
) -> list[Problem]:
    """rewards.planning.purchase_problems for a row: with the member's status and number before the locks,
    with the purchase's owner (recorded for another member) under them."""
    checked = {"member_status": status, "member_number": number} if owner is None else {"recorded_for": owner}
    problems = purchase_problems(
        source=row.source,
        external_id=row.external_id,
        amount=row.amount,
        store=row.store,
        lines=row.lines,
        member_id=row.member_id,
        **checked,
    )
    if owner is not None:
        return [problem for problem in problems if problem.about == RECORDED]
    return problems


# --- Reading and locking -------------------------------------------------------------------------


def recorded_purchases(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, str, datetime]]:
    """The purchases recorded already among these (source, external id) keys, each with its member's id and
    number and when it was recorded. One array parameter for the ids, however many (`= ANY`)."""
    wanted = set(keys)
    sources = sorted({source for source, _external_id in wanted})
    external_ids = sorted({external_id for _source, external_id in wanted})
    recorded = {}
    for queryset in any_of(Purchase.objects.filter(source__in=sources), "external_id", external_ids):
        found = queryset.values_list("source", "external_id", "member_id", "member__member_number", "created_at")
        for source, external_id, member_id, number, created_at in found:
            if (source, external_id) in wanted:
                recorded[(source, external_id)] = (member_id, number, created_at)
    return recorded


def _lock_accounts(member_ids: list[int]) -> dict[int, _Account]:
    """Lock the members' accounts in member order, as account_lock does one at a time, creating those missing."""

    def lock(ids: list[int]) -> dict[int, _Account]:
        locked = PointsAccount.objects.select_for_update().order_by("member_id")
        return {
            values[1]: _Account(*values)
            for queryset in any_of(locked, "member_id", ids)
            for values in queryset.values_list(*ACCOUNT_FIELDS)
        }

    accounts = lock(member_ids)
    missing = [member_id for member_id in member_ids if member_id not in accounts]
    if missing:
        _create_accounts(missing)
        accounts.update(lock(missing))
    return accounts


def _create_accounts(member_ids: list[int]) -> None:
    """Empty accounts for members who have none; one created meanwhile by someone else is left alone."""
    if connection.vendor != "postgresql":
        PointsAccount.objects.bulk_create([PointsAccount(member_id=m) for m in member_ids], ignore_conflicts=True)
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(PointsAccount._meta.db_table)} (member_id, balance, pending, updated_at) "
            "SELECT unnest(%s::bigint[]), 0, 0, %s ON CONFLICT (member_id) DO NOTHING",
            [member_ids, timezone.now()],
        )


# --- Tiers ---------------------------------------------------------------------------------------


def _tier_states(accounts: dict[int, _Account], context: _Context) -> dict[int, _TierState]:
    """Each member's tier and what tier_recalculate counts towards it, before this chunk."""
    bases = {tier.basis for tier in context.tiers}
    sums = {}
    # One subquery per member, on the (member, purchased_at) and (member, created_at) indexes: the plan stays
    # right however stale the table statistics are (a first import starts from empty tables).
    if Tier.Basis.SPEND in bases:
        sums["spend"] = Subquery(
            Purchase.objects.filter(
                member_id=OuterRef("pk"), purchased_at__gte=context.window_start, purchased_at__lte=context.now
            )
            .values("member_id")
            .annotate(s=Sum(F("amount") - F("refunded_amount")))
            .values("s")
        )
    if Tier.Basis.POINTS in bases:
        sums["points"] = Subquery(
            LedgerEntry.objects.filter(
                member_id=OuterRef("pk"),
                kind__in=[LedgerEntry.Kind.EARN, LedgerEntry.Kind.BONUS],
                created_at__gte=context.window_start,
            )
            .values("member_id")
            .annotate(s=Sum("points"))
            .values("s")
        )
    figures = {}
    for queryset in any_of(Member.objects.order_by(), "pk", sorted(accounts)):
        for pk, *values in queryset.annotate(**sums).values_list("pk", *sums):
            figures[pk] = dict(zip(sums, values, strict=True))
    return {
        member_id: _TierState(
            tier=context.tiers_by_id.get(account.tier_id),
            below_since=account.tier_below_since,
            spend=figures[member_id].get("spend") or ZERO,
            points=Decimal(figures[member_id].get("points") or 0),
        )
        for member_id, account in accounts.items()
    }


def _tier_follow(state: _TierState, *, plan: PurchasePlan, context: _Context) -> None:
    """Keep the tier as tier_recalculate leaves it after each purchase: the plan's figures and tier move."""
    state.spend, state.points = plan.progress[SPEND], plan.progress[POINTS]
    move = plan.tier
    if move.changed:
        state.tier, state.below_since, state.changed = move.tier, move.below_since, True
        if move.change is not None:
            state.history.append(move.change)
            state.tier_changed = True
    target = move.target
    # The figures only grow within a batch, so a member qualified for the top tier stays there.
    state.settled = target is not None and target == state.tier and target.rank == context.tiers[-1].rank


# --- Writing -------------------------------------------------------------------------------------


def _announce(
    rows: list[PurchaseRow],
    purchase_ids: list[int],
    writes: _Writes,
    tier_states: dict[int, _TierState],
    context: _Context,
) -> None:
    """The part's events as purchase_post announces them row by row, one call per type."""
    if has_receivers(PurchasePosted):
        points = dict(zip(writes.entry_purchase, (entry[4] for entry in writes.entries), strict=True))
        with _collector_paused():
            posted = [
                PurchasePosted(
                    member_id=row.member_id,
                    purchase_id=purchase_id,
                    amount=row.amount,
                    purchased_at=row.purchased_at,
                    store=row.store or "online",
                    source=row.source,
                    categories=purchase_categories(row.lines) if row.lines else (),
                    points=points.get(index, 0),
                )
                for index, (row, purchase_id) in enumerate(zip(rows, purchase_ids, strict=True))
            ]
        announce(posted)
    if tier_states and has_receivers(TierChanged):
        with _collector_paused():
            changes = [
                TierChanged(
                    member_id=member_id,
                    from_tier_id=old.pk if old is not None else None,
                    to_tier_id=new.pk if new is not None else None,
                    changed_at=context.now,
                )
                for member_id, state in tier_states.items()
                for old, new, _reason in state.history
            ]
        announce(changes)


@contextmanager
def _collector_paused():
    """Thousands of new events would set off garbage collections that walk the whole heap (the batch's rows,
    the configuration) and cost more than building the events; they hold no reference cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _write(rows: list[PurchaseRow], writes: _Writes) -> list[int]:
    """Write the part's rows; returns the new purchases' ids, in the rows' order."""
    if writes.purchase_ids is not None:
        _write_copy(rows, writes)
        return writes.purchase_ids
    return _write_insert(rows, writes)


def _write_copy(rows: list[PurchaseRow], writes: _Writes) -> None:
    """COPY purchases, lines and lots (the entries went while they were calculated)."""
    created_at = timezone.now()
    purchase_ids, entry_ids = writes.purchase_ids, writes.entry_ids
    with _copy(
        Purchase,
        (
            "id",
            "member_id",
            "source",
            "external_id",
            "store",
            "purchased_at",
            "amount",
            "refunded_amount",
            "created_at",
        ),
    ) as copy:
        for pk, row in zip(purchase_ids, rows, strict=True):
            copy.write_row(
                (
                    pk,
                    row.member_id,
                    row.source,
                    row.external_id,
                    row.store or "online",
                    row.purchased_at,
                    row.amount,
                    ZERO,
                    created_at,
                )
            )
    if any(row.lines for row in rows):
        with _copy(PurchaseLine, ("purchase_id", "sku", "product_name", "category", "quantity", "amount")) as copy:
            for pk, row in zip(purchase_ids, rows, strict=True):
                for line in row.lines:
                    copy.write_row(
                        (
                            pk,
                            line.sku,
                            line.product_name,
                            line.category,
                            line.quantity,
                            line.amount,
                        )
                    )
    if writes.lots:
        with _copy(PointsLot, ("entry_id", "member_id", "points", "remaining", "earned_at", "expires_at")) as copy:
            for lot in writes.lots:
                copy.write_row(
                    (entry_ids[lot.entry], lot.member_id, lot.points, lot.points, lot.earned_at, lot.expires_at)
                )


def _write_insert(rows: list[PurchaseRow], writes: _Writes) -> list[int]:
    """Multi-row INSERTs that return the new ids (SQLite since 3.35, and PostgreSQL)."""
    created_at = timezone.now()
    purchases = [
        Purchase(
            member_id=row.member_id,
            source=row.source,
            external_id=row.external_id,
            store=row.store or "online",
            purchased_at=row.purchased_at,
            amount=row.amount,
            created_at=created_at,
        )
        for row in rows
    ]
    _insert(purchases)
    PurchaseLine.objects.bulk_create(
        PurchaseLine(
            purchase_id=purchase.pk,
            sku=line.sku,
            product_name=line.product_name,
            category=line.category,
            quantity=line.quantity,
            amount=line.amount,
        )
        for purchase, row in zip(purchases, rows, strict=True)
        for line in row.lines
    )
    columns = ENTRY_COLUMNS[1:]
    entries = [LedgerEntry(**dict(zip(columns, values[1:], strict=True))) for values in writes.entries]
    for entry, index in zip(entries, writes.entry_purchase, strict=True):
        entry.purchase_id = purchases[index].pk
    _insert(entries)
    PointsLot.objects.bulk_create(
        PointsLot(
            member_id=lot.member_id,
            entry_id=entries[lot.entry].pk,
            points=lot.points,
            remaining=lot.points,
            earned_at=lot.earned_at,
            expires_at=lot.expires_at,
        )
        for lot in writes.lots
    )
    return [purchase.pk for purchase in purchases]


def _insert(objects: list[models.Model]) -> None:
    if not objects:
        return
    if connection.features.can_return_rows_from_bulk_insert:
        type(objects[0]).objects.bulk_create(objects)
    else:  # a database that cannot return the ids of a multi-row INSERT
        for obj in objects:
            obj.save(force_insert=True)


def _allocate_ids(model: type[models.Model], count: int) -> list[int]:
    """Draw `count` ids from the table's sequence, as INSERT would, so rows can point to each other."""
    with connection.cursor() as cursor:
        cursor.execute(
            # The sequence is looked up once (MATERIALIZED), not once per id.
            "WITH s AS MATERIALIZED (SELECT pg_get_serial_sequence(%s, %s)::regclass AS seq) "
            "SELECT array_agg(nextval(s.seq)) FROM s, generate_series(1, %s)",
            [model._meta.db_table, model._meta.pk.column, count],
        )
        return sorted(cursor.fetchone()[0])


@contextmanager
def _copy(model: type[models.Model], columns: tuple[str, ...]):
    """COPY rows into the model's table in the binary format (cheapest to encode and to parse)."""
    quote = connection.ops.quote_name
    fields = {field.column: field for field in model._meta.concrete_fields}
    statement = (
        f"COPY {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN (FORMAT BINARY)"
    )
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
        copy.set_types([_copy_type(fields[column]) for column in columns])
        yield copy


def _copy_type(field: models.Field) -> str:
    """The PostgreSQL type name psycopg encodes a column's values as: 'varchar(30)' is sent as text."""
    base = field.db_type(connection).split("(")[0].strip()
    return {"varchar": "text", "timestamp with time zone": "timestamptz"}.get(base, base)


def _update_accounts(
    accounts: dict[int, _Account], points: dict[int, list[int]], states: dict[int, _TierState], context: _Context
) -> int:
    """Credit the points and store the tiers of the locked accounts in one statement; record tier changes.
    Returns the number of tier changes."""
    for member_id, (available, pending) in points.items():
        account = accounts[member_id]
        account.balance += available
        account.pending += pending
        account.changed = True
    history = []
    for member_id, state in states.items():
        if not state.changed:
            continue
        account = accounts[member_id]
        account.tier_id = state.tier.pk if state.tier else None
        account.tier_below_since = state.below_since
        if state.tier_changed:
            account.tier_since = context.now
        account.changed = True
        history.extend(
            (member_id, old.pk if old else None, new.pk if new else None, reason) for old, new, reason in state.history
        )
    _save_accounts([account for _, account in sorted(accounts.items()) if account.changed])
    if not history:
        return 0
    if connection.vendor == "postgresql":
        with _copy(TierChange, ("member_id", "from_tier_id", "to_tier_id", "reason", "changed_at")) as copy:
            for change in history:
                copy.write_row((*change, context.now))
    else:
        TierChange.objects.bulk_create(
            TierChange(member_id=member_id, from_tier_id=old, to_tier_id=new, reason=reason, changed_at=context.now)
            for member_id, old, new, reason in history
        )
    return len(history)


def _save_accounts(accounts: list[_Account]) -> None:
    """Write balances and tiers of the locked accounts."""
    if not accounts:
        return
    if connection.vendor != "postgresql":
        objects = [PointsAccount(**{name: getattr(account, name) for name in ACCOUNT_FIELDS}) for account in accounts]
        PointsAccount.objects.bulk_update(objects, list(ACCOUNT_FIELDS[2:]), batch_size=100)
        return
    # COPY the new values into a session-local table, then one UPDATE joins it: far cheaper to send than
    # thousands of parameters.
    quote = connection.ops.quote_name
    fields = [PointsAccount._meta.get_field(name.removesuffix("_id")) for name in ACCOUNT_FIELDS if name != "member_id"]
    columns = [field.column for field in fields]
    staging = quote("batch_points_accounts")
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {staging} "
            f"({', '.join(f'{quote(c)} {_copy_type(f)}' for c, f in zip(columns, fields, strict=True))}) "
            "ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {staging}")  # an earlier chunk of the same transaction may have left rows
        statement = f"COPY {staging} FROM STDIN (FORMAT BINARY)"
        with connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
            copy.set_types([_copy_type(field) for field in fields])
            for account in accounts:
                copy.write_row(tuple(getattr(account, field.attname) for field in fields))
        assignments = ", ".join(f"{quote(column)} = v.{quote(column)}" for column in columns[1:])
        cursor.execute(
            f"UPDATE {quote(PointsAccount._meta.db_table)} AS a SET {assignments} "  # noqa: S608 - names from the model
            f"FROM {staging} AS v WHERE a.id = v.id"
        )
