"""The members app's hand-written SQL (tests/members/test_sql.py): a purchase and its lines in one statement, and
the purchase's columns in the order the batch COPYs them too (rewards.batch.writing).

Everything else reads and writes through the ORM. This is the single post's hot path (a till waits for every
round trip to the database); PostgreSQL only, the callers write with the ORM elsewhere."""

from collections.abc import Sequence
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection
from django.utils import timezone

from .models import Purchase, PurchaseLine

PURCHASE_COLUMNS = (
    "member_id",
    "source",
    "external_id",
    "store",
    "purchased_at",
    "amount",
    "refunded_amount",
    "created_at",
)
LINE_COLUMNS = ("sku", "product_name", "category", "quantity", "amount")


@cache
def _purchase_sql() -> str:
    quote = connection.ops.quote_name
    line_types = {"sku": "text", "product_name": "text", "category": "text", "quantity": "numeric", "amount": "numeric"}
    arrays = ", ".join(f"%s::{line_types[column]}[]" for column in LINE_COLUMNS)
    return (
        f"WITH purchase AS (INSERT INTO {quote(Purchase._meta.db_table)} "  # noqa: S608 - the models' names
        f"({', '.join(quote(c) for c in PURCHASE_COLUMNS)}) VALUES ({', '.join(['%s'] * len(PURCHASE_COLUMNS))}) "
        "ON CONFLICT (source, external_id) DO NOTHING RETURNING id), "
        f"line AS (INSERT INTO {quote(PurchaseLine._meta.db_table)} "
        f"(purchase_id, {', '.join(quote(c) for c in LINE_COLUMNS)}) "
        f"SELECT purchase.id, {', '.join(f'l.{c}' for c in LINE_COLUMNS)} "
        f"FROM purchase, unnest({arrays}) AS l({', '.join(LINE_COLUMNS)})) "
        "SELECT id FROM purchase"
    )


def purchase_insert(purchase: Purchase, lines: Sequence) -> bool:
    """INSERT the new purchase with its lines (objects with LINE_COLUMNS' attributes) unless its (source,
    external_id) is recorded already, also by a concurrent transaction: then nothing is written and False
    returned. Sets the purchase's id and recording time when it inserted, as `insert_unless_exists` does."""
    purchase.created_at = timezone.now()
    params = [getattr(purchase, column) for column in PURCHASE_COLUMNS]
    params += [[getattr(line, column) for line in lines] for column in LINE_COLUMNS]
    with connection.cursor() as cursor:
        cursor.execute(_purchase_sql(), params)
        row = cursor.fetchone()
    if row is None:
        return False
    purchase.pk = row[0]
    purchase._state.adding, purchase._state.db = False, DEFAULT_DB_ALIAS
    return True
