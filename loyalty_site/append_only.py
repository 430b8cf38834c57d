"""Database triggers that make a table append-only: UPDATE and DELETE are refused by the database itself,
so no import script, shell session or future bug can rewrite history.

TRUNCATE and disabling the triggers need table ownership (or the TRUNCATE/TRIGGER privilege): the test suite
resets tables with TRUNCATE as the owner. In production the application connects as a role that owns nothing
and holds neither (`scripts/db_roles.sh`, docs/deploy.md), so only the owner that runs migrations can."""

from django.db import migrations


def _create(table: str, *, sqlite_only: bool = False):
    def forwards(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql" and not sqlite_only:
            schema_editor.execute(
                f"""
                CREATE OR REPLACE FUNCTION {table}_append_only() RETURNS trigger AS $$
                BEGIN
                    RAISE EXCEPTION '{table} is append-only: %% refused', TG_OP
                        USING ERRCODE = 'restrict_violation';
                END;
                $$ LANGUAGE plpgsql;
                CREATE TRIGGER {table}_no_update_delete
                    BEFORE UPDATE OR DELETE ON {table}
                    FOR EACH ROW EXECUTE FUNCTION {table}_append_only();
                """,
                params=(),
            )
        elif vendor == "sqlite":
            for op in ("UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER IF NOT EXISTS {table}_no_{op.lower()} BEFORE {op} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END;"
                )

    return forwards


def _drop(table: str):
    def backwards(apps, schema_editor):
        vendor = schema_editor.connection.vendor
        if vendor == "postgresql":
            schema_editor.execute(
                f"DROP TRIGGER IF EXISTS {table}_no_update_delete ON {table};"
                f"DROP FUNCTION IF EXISTS {table}_append_only();"
            )
        elif vendor == "sqlite":
            for op in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{op};")

    return backwards


def append_only(table: str) -> migrations.RunPython:
    return migrations.RunPython(_create(table), _drop(table))


def append_only_after_remake(table: str) -> migrations.RunPython:
    """Put the SQLite triggers back after operations that altered the table: SQLite cannot alter a column,
    so Django copies the table into a new one, and the old table's triggers go with it. PostgreSQL alters
    the table in place and keeps its trigger. Place one after such operations and one before them: the one
    before puts the triggers back when the migration is reversed (both do nothing where they are in place)."""
    restore = _create(table, sqlite_only=True)
    return migrations.RunPython(restore, restore)
