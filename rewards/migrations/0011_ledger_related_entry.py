"""Ledger entries that release, reverse or transfer a credit point at it through a foreign key, instead of a
`pending:<pk>` / `entry:<pk>` string the code read back with casts. Existing entries are linked by parsing
what they wrote: their reference, their idempotency key, or (for a refund's reversal of available points,
which names only the refund) the earn entry of the refunded purchase.

The ledger is append-only by trigger (loyalty_site/append_only.py), so the fill turns it off around its
UPDATEs, inside this migration's transaction: on PostgreSQL with ALTER TABLE ... DISABLE TRIGGER (the
migration runs as the table's owner), on SQLite by dropping the triggers and creating them again. If
anything fails, the transaction rolls back with the triggers as they were. Backwards there is nothing to
undo but the column."""

import django.db.models.deletion
from django.db import migrations, models

from loyalty_site.append_only import append_only_after_remake

TABLE = "rewards_ledgerentry"
PG_TRIGGER = f"{TABLE}_no_update_delete"


def _number(vendor: str, column: str, prefix: str) -> str:
    """SQL for the whole number after `prefix` when the column is exactly `prefix<digits>`, NULL otherwise."""
    if vendor == "postgresql":
        return f"CAST(substring({column} from '^{prefix}([0-9]{{1,18}})$') AS bigint)"
    tail = f"substr({column}, {len(prefix) + 1})"
    return (
        f"CASE WHEN {column} GLOB '{prefix}[0-9]*' AND {tail} NOT GLOB '*[^0-9]*' AND length({tail}) <= 18 "
        f"THEN CAST({tail} AS INTEGER) END"
    )


def _link_by(vendor: str, *, kinds: tuple[str, ...], column: str, prefix: str) -> str:
    # Linked only to an entry of the same member: every path that wrote these strings wrote them so.
    number = _number(vendor, f"{TABLE}.{column}", prefix)
    kind_list = ", ".join(f"'{kind}'" for kind in kinds)
    return (
        f"UPDATE {TABLE} SET related_entry_id = ("  # noqa: S608
        f"SELECT target.id FROM {TABLE} target "
        f"WHERE target.id = {number} AND target.member_id = {TABLE}.member_id) "
        f"WHERE related_entry_id IS NULL AND kind IN ({kind_list}) AND {column} LIKE '{prefix}%%'"
    )


def _refund_reversals() -> str:
    # refund_post reverses the purchase's earn entry, keyed purchase:<source>:<external id>.
    return (
        f"UPDATE {TABLE} SET related_entry_id = ("  # noqa: S608
        f"SELECT target.id FROM {TABLE} target JOIN members_purchase purchase ON purchase.id = target.purchase_id "
        f"WHERE target.purchase_id = {TABLE}.purchase_id AND target.member_id = {TABLE}.member_id "
        f"AND target.kind = 'earn' "
        f"AND target.idempotency_key = 'purchase:' || purchase.source || ':' || purchase.external_id) "
        f"WHERE related_entry_id IS NULL AND kind = 'reverse' AND idempotency_key LIKE 'refund:%%' "
        f"AND purchase_id IS NOT NULL"
    )


def link_entries(apps, schema_editor):
    # Statements run with params=() so that both backends read "%%" in them as one "%".
    vendor = schema_editor.connection.vendor
    statements = [
        # A pending credit's release (out and in), a reversal of pending points, a merge's pending transfer.
        _link_by(vendor, kinds=("release", "reverse", "transfer"), column="reference", prefix="pending:"),
        # A reversal of available points, by its default reference or its default key.
        _link_by(vendor, kinds=("reverse",), column="reference", prefix="entry:"),
        _link_by(vendor, kinds=("reverse",), column="idempotency_key", prefix="reverse:"),
        _refund_reversals(),
    ]
    if vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER {PG_TRIGGER}")
        for statement in statements:
            schema_editor.execute(statement, params=())
        # The new column's foreign key is checked at commit; ALTER TABLE refuses to run while such checks
        # are pending, so have them now.
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        schema_editor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER {PG_TRIGGER}")
        schema_editor.execute("SET CONSTRAINTS ALL DEFERRED")
    elif vendor == "sqlite":
        for op in ("update", "delete"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {TABLE}_no_{op}")
        for statement in statements:
            schema_editor.execute(statement, params=())
        append_only_after_remake(TABLE).code(apps, schema_editor)
    else:
        for statement in statements:
            schema_editor.execute(statement, params=())


class Migration(migrations.Migration):
    atomic = True  # the triggers come back with the rollback if the fill fails

    dependencies = [
        ("rewards", "0010_ledgercheck"),
    ]

    operations = [
        append_only_after_remake(TABLE),  # for the way back: SQLite drops the column by copying the table
        migrations.AddField(
            model_name="ledgerentry",
            name="related_entry",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                help_text="The credit this entry releases, reverses or transfers.",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="rewards.ledgerentry",
                verbose_name="for entry",
            ),
        ),
        migrations.RunPython(link_entries, migrations.RunPython.noop, elidable=False),
        # After the fill, so the UPDATEs do not maintain it row by row.
        migrations.AddIndex(
            model_name="ledgerentry",
            index=models.Index(
                condition=models.Q(("related_entry__isnull", False)),
                fields=["related_entry"],
                name="ledger_related_entry",
            ),
        ),
        append_only_after_remake(TABLE),
    ]
