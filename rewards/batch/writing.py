"""Writing a part in sets: COPY on PostgreSQL (multi-row INSERTs elsewhere), the accounts with one UPDATE,
and the announcements of what was written."""

from django.db import connection, models
from django.utils import timezone

from loyalty_site.hooks import announce, has_receivers
from members.models import Purchase, PurchaseLine
from members.sql import LINE_COLUMNS, PURCHASE_COLUMNS

from ..events import PurchasePosted, TierChanged
from ..models import LedgerEntry, PointsLot, TierChange
from ..services import (
    purchase_categories,
)
from ..sql.accounts import accounts_save
from ..sql.copying import copy_rows
from ..sql.ledger import lots_write
from .rows import ENTRY_COLUMNS, ZERO, PurchaseRow, _Account, _Context, _TierState, _Writes

# --- Writing -------------------------------------------------------------------------------------


def _announce(
    rows: list[PurchaseRow],
    purchase_ids: list[int],
    writes: _Writes,
    tier_states: dict[int, _TierState],
    context: _Context,
) -> None:
    """The part's events as purchase_post announces them row by row, one call per type. Called inside
    `version_checked()` (the batch read the version at its start) and with the collector paused (_post_chunk)."""
    if has_receivers(PurchasePosted):
        points = dict(zip(writes.entry_purchase, (entry[4] for entry in writes.entries), strict=True))
        announce(
            [
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
        )
    if tier_states and has_receivers(TierChanged):
        announce(
            [
                TierChanged(
                    member_id=member_id,
                    from_tier_id=old.pk if old is not None else None,
                    to_tier_id=new.pk if new is not None else None,
                    changed_at=context.now,
                )
                for member_id, state in tier_states.items()
                for old, new, _reason in state.history
            ]
        )


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
    with copy_rows(Purchase, ("id", *PURCHASE_COLUMNS)) as copy:
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
        with copy_rows(PurchaseLine, ("purchase_id", *LINE_COLUMNS)) as copy:
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
        lots_write(
            [
                (lot.member_id, entry_ids[lot.entry], lot.points, lot.points, lot.earned_at, lot.expires_at)
                for lot in writes.lots
            ]
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
            (member_id, old.pk if old else None, new.pk if new else None, reason.code, reason.params)
            for old, new, reason in state.history
        )
    accounts_save([account for _, account in sorted(accounts.items()) if account.changed])
    if not history:
        return 0
    if connection.vendor == "postgresql":
        columns = ("member_id", "from_tier_id", "to_tier_id", "reason", "reason_code", "reason_params", "changed_at")
        with copy_rows(TierChange, columns) as copy:
            for member_id, old, new, code, params in history:
                copy.write_row((member_id, old, new, "", code, params, context.now))
    else:
        TierChange.objects.bulk_create(
            TierChange(
                member_id=member_id,
                from_tier_id=old,
                to_tier_id=new,
                reason_code=code,
                reason_params=params,
                changed_at=context.now,
            )
            for member_id, old, new, code, params in history
        )
    return len(history)
