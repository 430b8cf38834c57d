"""`ProgramSettings.config_version` and the triggers that replace it on every change of the programme's
configuration (settings, earning rules, tiers), so processes know when their cached copy is stale
(rewards.config). Triggers, not signals: bulk updates, imports and raw SQL send no signals."""

from django.db import migrations, models

import rewards.models
from rewards.sql.programme import SQLITE_BUMP, config_watched


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            """
            CREATE OR REPLACE FUNCTION rewards_config_changed() RETURNS trigger AS $$
            BEGIN
                UPDATE rewards_programsettings SET config_version = floor(random() * 4611686018427387903)::bigint
                 WHERE id = 1;
                RETURN NULL;
            END;
            $$ LANGUAGE plpgsql;

            -- Every update gets a new version, whatever it wrote: Model.save() writes all columns, so an
            -- instance read before another change would otherwise put back a version a process has cached.
            CREATE OR REPLACE FUNCTION rewards_settings_changed() RETURNS trigger AS $$
            BEGIN
                NEW.config_version := floor(random() * 4611686018427387903)::bigint;
                RETURN NEW;
            END;
            $$ LANGUAGE plpgsql;

            CREATE TRIGGER rewards_programsettings_version BEFORE INSERT OR UPDATE ON rewards_programsettings
                FOR EACH ROW EXECUTE FUNCTION rewards_settings_changed();
            """,
            params=(),
        )
    elif vendor == "sqlite":
        # SQLite has no BEFORE trigger that can change the row: AFTER triggers set a new version. The trigger's
        # own update does not fire it again (SQLite's recursive_triggers is off unless a connection turns it on).
        for op in ("INSERT", "UPDATE"):
            schema_editor.execute(
                f"CREATE TRIGGER rewards_programsettings_version_{op.lower()} AFTER {op} "
                f"ON rewards_programsettings BEGIN {SQLITE_BUMP} END;"
            )


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(
            "DROP TRIGGER IF EXISTS rewards_programsettings_version ON rewards_programsettings;"
            "DROP FUNCTION IF EXISTS rewards_settings_changed(); DROP FUNCTION IF EXISTS rewards_config_changed();"
        )
    elif vendor == "sqlite":
        for op in ("insert", "update"):
            schema_editor.execute(f"DROP TRIGGER IF EXISTS rewards_programsettings_version_{op};")


class Migration(migrations.Migration):
    dependencies = [("rewards", "0007_catalog_roles")]

    operations = [
        migrations.AddField(
            model_name="programsettings",
            name="config_version",
            field=models.BigIntegerField(default=rewards.models.new_config_version, editable=False),
        ),
        migrations.RunPython(create_triggers, drop_triggers),
        # After the function they call; reversed, they go before it.
        config_watched("rewards_earningrule", "rewards_tier"),
    ]
