"""One chunk in one process: rows checked, planned (rewards.planning) and written in parts, retried on a
deadlock."""

import gc
from contextlib import contextmanager
from typing import NamedTuple

from django.db import IntegrityError, OperationalError, connection, transaction

from loyalty_site.db import any_of
from members.models import Member, Purchase

from ..config import version_checked
from ..models import LedgerEntry
from ..planning import (
    MEMBER,
    POINTS,
    RECORDED,
    SPEND,
    Problem,
    Standing,
    plan_purchase,
    purchase_problems,
)
from ..services import (
    purchase_earn_key,
)
from ..sql.copying import allocate_ids
from ..sql.ledger import entries_copy
from .reading import _lock_accounts, recorded_purchases
from .rows import (
    EARN,
    PENDING,
    RETRIES,
    BatchResult,
    PurchaseRow,
    Refusal,
    _Account,
    _Context,
    _Lot,
    _TierState,
    _Writes,
)
from .tiers import _tier_follow, _tier_states
from .writing import _announce, _update_accounts, _write

# --- One process ---------------------------------------------------------------------------------


class _Candidate(NamedTuple):
    index: int  # position in the rows given to the batch
    row: PurchaseRow
    problem: Problem | None  # why purchase_problems refuses it, unless it turns out recorded already
    number: str  # the member's number, to name them when another row claims the same purchase


@contextmanager
def _collector_paused():
    """Python's cyclic collector off inside the block, back as it was after (why: _post_chunk)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _post_chunk(chunk: list[PurchaseRow], *, start: int, context: _Context) -> BatchResult:
    """Sort out the rows of refused members, then post the rest in one transaction."""
    # A chunk allocates hundreds of thousands of small objects (plans, entries, COPY rows) that die by reference
    # counting; each of them counts towards the collector's thresholds, whose full collections walk the whole
    # heap (the batch's rows above all). Measured: a quarter of the batch's Python time. Cycles made here are
    # few and the chunk bounded: the collector catches up after it.
    with _collector_paused():
        return _post_chunk_rows(chunk, start=start, context=context)


def _post_chunk_rows(chunk: list[PurchaseRow], *, start: int, context: _Context) -> BatchResult:
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
    if context.part_started is not None:
        context.part_started([candidate.row for candidate in candidates])
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
        writes.purchase_ids = allocate_ids(Purchase, len(rows))
        writes.entry_ids = allocate_ids(LedgerEntry, len(rows))
        # The ledger is the widest table: COPY it while the points are worked out, so the database
        # indexes entries while Python calculates. Foreign keys are checked at commit.
        with entries_copy(with_ids=True) as emit:
            _calculate(rows, accounts, tier_states, context, writes, emit=emit)
    else:
        _calculate(rows, accounts, tier_states, context, writes, emit=None)
    purchase_ids = _write(rows, writes)
    result.tier_changes = _update_accounts(accounts, writes.points, tier_states, context)
    # Last in the transaction, after every write of the part: an attempt that fails on a write (a deadlock, a
    # purchase recorded meanwhile) has announced nothing, and what receivers write sees the part complete.
    with version_checked():  # read at the start of the batch
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
            *plan.reason.columns(),
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
