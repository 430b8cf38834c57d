"""Changes of a journey give the programme a new `config_version` (rewards 0008's trigger function), so the
per-process copy of which journeys are on (campaigns.journeys.journeys_switched_on) is reloaded on the next
post, however the journey changed (admin, bulk update, raw SQL)."""

from django.db import migrations

WATCHED = ("campaigns_journey",)


def create_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for table in WATCHED:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION rewards_config_changed();",
                params=(),
            )
    elif vendor == "sqlite":
        bump = "UPDATE rewards_programsettings SET config_version = random() WHERE id = 1;"
        for table in WATCHED:
            for op in ("INSERT", "UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_config_{op.lower()} AFTER {op} ON {table} BEGIN {bump} END;"
                )


def drop_triggers(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for table in WATCHED:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_config_changed ON {table};")
        elif vendor == "sqlite":
            for op in ("insert", "update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_config_{op};")


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0004_voucher_issued_journey"), ("rewards", "0008_config_version")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
