"""The programme configuration's version: the first query of every post (rewards.config), and the triggers that
renew it when a watched table changes."""

from django.db import connection, migrations

from ..models import ProgramSettings

SQLITE_BUMP = "UPDATE rewards_programsettings SET config_version = random() WHERE id = 1;"


def config_version() -> int | None:
    """The settings row's `config_version` (None while no settings were saved)."""
    table = connection.ops.quote_name(ProgramSettings._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT config_version FROM {table} WHERE id = 1")  # noqa: S608 (a table name)
        row = cursor.fetchone()
    return row[0] if row else None


def config_watched(*tables: str) -> migrations.RunPython:
    """A migration operation: every change of these tables gives the programme a new `config_version` (the trigger
    function of rewards 0008), so a configuration cached per process under it (rewards.config, and any app's own,
    e.g. rewards.engagement.config, campaigns.journeys) is reloaded on the next post, however the rows changed
    (admin, bulk update, raw SQL). Migrations call it: the statements must stay as they are."""

    def create(apps, schema_editor) -> None:
        vendor = schema_editor.connection.vendor
        for table in tables:
            if vendor == "postgresql":
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION rewards_config_changed();",
                    params=(),
                )
            elif vendor == "sqlite":
                for op in ("INSERT", "UPDATE", "DELETE"):
                    schema_editor.execute(
                        f"CREATE TRIGGER {table}_config_{op.lower()} AFTER {op} ON {table} BEGIN {SQLITE_BUMP} END;"
                    )

    def drop(apps, schema_editor) -> None:
        vendor = schema_editor.connection.vendor
        for table in tables:
            if vendor == "postgresql":
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_config_changed ON {table};")
            elif vendor == "sqlite":
                for op in ("insert", "update", "delete"):
                    schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_config_{op};")

    return migrations.RunPython(create, drop)
