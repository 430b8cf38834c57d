"""The ledger check: accounts whose stored balances differ from the ledger or the lots, in one statement.

The database sums the ledger by bucket and the lots' remaining points per member, joins them to the accounts and
returns only the accounts that differ, so a million entries take a second and no memory here. Being one statement
it also reads one snapshot: a purchase posted meanwhile is seen whole or not at all. Read through
rewards.selectors.ledger_mismatches (the nightly reconciliation, the demo's last check, the tests)."""

from collections.abc import Iterable
from typing import NamedTuple

from django.db import connection

from loyalty_site.db import int_array

from ..models import LedgerEntry, PointsAccount, PointsLot


class AccountMismatch(NamedTuple):
    """One account that differs: what it stores, and what the ledger's buckets and the lots add up to."""

    member_id: int
    balance: int
    pending: int
    ledger_available: int
    ledger_pending: int
    lots: int


def _statement(where_ledger: str, where_lots: str, where_accounts: str) -> str:
    quote = connection.ops.quote_name
    return f"""
        WITH ledger AS (
            SELECT member_id,
                   SUM(CASE WHEN bucket = %s THEN points ELSE 0 END) AS available,
                   SUM(CASE WHEN bucket = %s THEN points ELSE 0 END) AS pending
            FROM {quote(LedgerEntry._meta.db_table)} {where_ledger}
            GROUP BY member_id
        ), lots AS (
            SELECT member_id, SUM(remaining) AS remaining
            FROM {quote(PointsLot._meta.db_table)} {where_lots}
            GROUP BY member_id
        )
        SELECT a.member_id, a.balance, a.pending,
               COALESCE(l.available, 0), COALESCE(l.pending, 0), COALESCE(p.remaining, 0)
        FROM {quote(PointsAccount._meta.db_table)} AS a
        LEFT JOIN ledger AS l ON l.member_id = a.member_id
        LEFT JOIN lots AS p ON p.member_id = a.member_id
        WHERE (a.balance <> COALESCE(l.available, 0)
               OR a.pending <> COALESCE(l.pending, 0)
               OR a.balance <> COALESCE(p.remaining, 0)) {where_accounts}
        ORDER BY a.member_id
    """  # noqa: S608 - table names from the models, values as parameters


def account_mismatches(*, member_ids: Iterable[int] | None = None) -> list[AccountMismatch]:
    """The accounts (of `member_ids`, or all) whose balance differs from the ledger's available bucket or from
    the lots' remaining points, or whose pending points differ from the ledger's pending bucket; in member
    order. An empty list means all is well. A member without an account is not checked (nothing is stored)."""
    params: list = [LedgerEntry.Bucket.AVAILABLE.value, LedgerEntry.Bucket.PENDING.value]
    # Spent lots add nothing to the sum: leaving them out lets a check of some members read lot_open, the one
    # index of lots by member (PointsLot.member).
    where_ledger, where_lots, where_accounts = "", "WHERE remaining > 0", ""
    if member_ids is not None:
        ids = [int(member_id) for member_id in member_ids]
        if not ids:
            return []
        if connection.vendor == "postgresql":  # one array parameter however many members
            condition, values = "member_id = ANY(%s::bigint[])", [int_array(ids)]
        else:
            condition, values = f"member_id IN ({', '.join(['%s'] * len(ids))})", ids
        where_ledger, where_lots, where_accounts = (
            f"WHERE {condition}",
            f"{where_lots} AND {condition}",
            f"AND a.{condition}",
        )
        params += values * 3
    with connection.cursor() as cursor:
        cursor.execute(_statement(where_ledger, where_lots, where_accounts), params)
        rows = cursor.fetchall()
    # SUM gives a Decimal (PostgreSQL's numeric for bigint) or an int (SQLite): ints here.
    return [AccountMismatch(*(int(value) for value in row)) for row in rows]
