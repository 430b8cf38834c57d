"""Points accounts: one read and locked, points added to one, and accounts locked and saved in sets (the batch).

Every writer of points locks the member's account first, in member order when it takes several."""

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone

from loyalty_site.db import any_of, fetch_binary, int_array

from ..models import PointsAccount
from .copying import copy_type

# The account of a member, for PointsAccount.objects.raw(): the single post's hot path, where the ORM's query
# building cost three times the query.
ACCOUNT_BY_MEMBER_SQL = f"SELECT * FROM {PointsAccount._meta.db_table} WHERE member_id = %s"  # noqa: S608 - model's name


def account_row_lock(member_id: int) -> PointsAccount | None:
    """The member's account, locked for the transaction where the database locks rows (FOR UPDATE), or None
    while the member has none; its tier is not read (the caller holds the programme's tiers)."""
    sql = ACCOUNT_BY_MEMBER_SQL + (" FOR UPDATE" if connection.features.has_select_for_update else "")
    return next(iter(PointsAccount.objects.raw(sql, [member_id])), None)


_ADD_POINTS_SQL = {
    column: f"UPDATE {PointsAccount._meta.db_table} SET {column} = {column} + %s WHERE id = %s"  # noqa: S608
    for column in ("balance", "pending")
}


def account_points_add(*, account_id: int, column: str, points: int) -> None:
    """Add to one account's stored balance or pending points ("balance" or "pending"); the database refuses a
    negative result."""
    with connection.cursor() as cursor:
        cursor.execute(_ADD_POINTS_SQL[column], [points, account_id])


ACCOUNT_FIELDS = ("id", "member_id", "balance", "pending", "tier_id", "tier_since", "tier_below_since")


@dataclass(slots=True)
class AccountRow:
    """A locked PointsAccount row as plain values (ACCOUNT_FIELDS): thousands are read per batch chunk."""

    id: int
    member_id: int
    balance: int
    pending: int
    tier_id: int | None
    tier_since: datetime | None
    tier_below_since: datetime | None
    changed: bool = False


_LOCK_ACCOUNTS_SQL = (
    f"SELECT {', '.join(ACCOUNT_FIELDS)} FROM {PointsAccount._meta.db_table} "  # noqa: S608 - the model's names
    "WHERE member_id = ANY(%s::bigint[]) ORDER BY member_id FOR UPDATE"
)


def accounts_lock(member_ids: list[int]) -> dict[int, AccountRow]:
    """Lock the members' accounts in member order, as account_lock does one at a time, creating those missing.
    One array parameter however many members."""

    def lock(ids: list[int]) -> dict[int, AccountRow]:
        if connection.vendor == "postgresql":
            # Thousands of rows per batch chunk: in the binary format psycopg's C loaders read the timestamps,
            # three times faster than the ORM's row conversion (tests/rewards/test_sql.py compares the two).
            return {values[1]: AccountRow(*values) for values in fetch_binary(_LOCK_ACCOUNTS_SQL, [int_array(ids)])}
        locked = PointsAccount.objects.select_for_update().order_by("member_id")
        return {
            values[1]: AccountRow(*values)
            for queryset in any_of(locked, "member_id", ids)
            for values in queryset.values_list(*ACCOUNT_FIELDS)
        }

    accounts = lock(member_ids)
    missing = [member_id for member_id in member_ids if member_id not in accounts]
    if missing:
        _accounts_create(missing)
        accounts.update(lock(missing))
    return accounts


def _accounts_create(member_ids: list[int]) -> None:
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


def accounts_save(accounts: list[AccountRow]) -> None:
    """Write balances, pending points and tiers of locked accounts as they are in memory."""
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
            f"({', '.join(f'{quote(c)} {copy_type(f)}' for c, f in zip(columns, fields, strict=True))}) "
            "ON COMMIT DELETE ROWS"
        )
        cursor.execute(f"TRUNCATE {staging}")  # an earlier chunk of the same transaction may have left rows
        statement = f"COPY {staging} FROM STDIN (FORMAT BINARY)"
        with connection.wrap_database_errors, cursor.cursor.copy(statement) as copy:
            copy.set_types([copy_type(field) for field in fields])
            for account in accounts:
                copy.write_row(tuple(getattr(account, field.attname) for field in fields))
        assignments = ", ".join(f"{quote(column)} = v.{quote(column)}" for column in columns[1:])
        cursor.execute(
            f"UPDATE {quote(PointsAccount._meta.db_table)} AS a SET {assignments} "  # noqa: S608 - names from the model
            f"FROM {staging} AS v WHERE a.id = v.id"
        )
