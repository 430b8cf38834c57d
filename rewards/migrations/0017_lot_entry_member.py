"""A lot's member is its entry's, said by one foreign key over both columns.

Before: two foreign keys on rewards_pointslot, member_id to members_member and entry_id to rewards_ledgerentry, and
an index on member_id. After: on PostgreSQL one foreign key (entry_id, member_id) to the ledger's (id, member_id),
which needs that pair unique on the ledger (a new index, `ledger_entry_member`). PostgreSQL checks a foreign key
row by row at commit, through a query each; a batch of 100,000 purchases paid 86,000 checks of lots against
members and as many against the ledger, and now pays the second only (docs/benchmarks.md, session 6). The member
stays protected: the ledger's own foreign key refers to it, and every lot's entry is the member's.

The member_id index goes: every read of a member's lots asks for open ones (`lot_open`, partial on remaining > 0)
or comes from the entry. SQLite (the demo) has no way to add a foreign key to a table; there the lots keep no
constraint of their own and the ledger's protects the member.

On PostgreSQL nothing here holds off posting for longer than a moment: the ledger's new index is built
CONCURRENTLY (so this migration is not atomic: each step commits on its own, and each can be run again) and made
the constraint in place, and the foreign key is added NOT VALID and then validated, which reads the lots without
blocking writes. Validating fails if some lot names another member than its entry: no code path writes one.
On SQLite a table altered is copied into a new one, losing its triggers: the ledger's append-only ones are put
back around the change (loyalty_site.append_only).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

from loyalty_site.append_only import append_only_after_remake
from loyalty_site.migration_ops import InPlaceOnPostgresql

LOTS = "rewards_pointslot"
LEDGER = "rewards_ledgerentry"
CONSTRAINT = "lot_entry_member"


def add_foreign_key(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE {LOTS} DROP CONSTRAINT IF EXISTS {CONSTRAINT}")
    schema_editor.execute(
        f"ALTER TABLE {LOTS} ADD CONSTRAINT {CONSTRAINT} FOREIGN KEY (entry_id, member_id) "
        f"REFERENCES {LEDGER} (id, member_id) DEFERRABLE INITIALLY DEFERRED NOT VALID"
    )
    schema_editor.execute(f"ALTER TABLE {LOTS} VALIDATE CONSTRAINT {CONSTRAINT}")


def drop_foreign_key(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"ALTER TABLE {LOTS} DROP CONSTRAINT {CONSTRAINT}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [
        ("members", "0012_portal_account_roles"),
        ("rewards", "0016_reward_category_to_categories"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        append_only_after_remake(LEDGER),  # for the way back
        InPlaceOnPostgresql(
            sql=[
                "DROP INDEX CONCURRENTLY IF EXISTS ledger_entry_member",  # left invalid by an interrupted run
                f"CREATE UNIQUE INDEX CONCURRENTLY ledger_entry_member ON {LEDGER} (id, member_id)",
                f"ALTER TABLE {LEDGER} ADD CONSTRAINT ledger_entry_member UNIQUE USING INDEX ledger_entry_member",
            ],
            reverse_sql=[f"ALTER TABLE {LEDGER} DROP CONSTRAINT ledger_entry_member"],
            operations=[
                migrations.AddConstraint(
                    model_name="ledgerentry",
                    constraint=models.UniqueConstraint(fields=("id", "member"), name="ledger_entry_member"),
                ),
            ],
        ),
        append_only_after_remake(LEDGER),
        migrations.AlterField(
            model_name="pointslot",
            name="entry",
            field=models.OneToOneField(
                db_constraint=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="lot",
                to="rewards.ledgerentry",
                verbose_name="ledger entry",
            ),
        ),
        migrations.AlterField(
            model_name="pointslot",
            name="member",
            field=models.ForeignKey(
                db_constraint=False,
                db_index=False,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="members.member",
                verbose_name="member",
            ),
        ),
        migrations.RunPython(add_foreign_key, drop_foreign_key, elidable=False),
    ]
