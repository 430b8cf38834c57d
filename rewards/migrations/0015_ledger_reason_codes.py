# Reason codes and parameters beside the sentence: the ledger stores what happened, rendered when read.
# Adding columns with defaults writes no row (the append-only triggers see no UPDATE); old rows keep their sentence.

from django.db import migrations, models

from loyalty_site.append_only import append_only_after_remake

# SQLite adds a NOT NULL column by copying the table into a new one, which loses the append-only triggers:
# put them back after the operations (and before them, for the way back). PostgreSQL alters in place.


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0014_verbose_names_adminpl"),
    ]

    operations = [
        append_only_after_remake("rewards_ledgerentry"),  # for the way back
        migrations.AddField(
            model_name="ledgerentry",
            name="reason_code",
            field=models.CharField(blank=True, db_default="", default="", max_length=30, verbose_name="reason code"),
        ),
        migrations.AddField(
            model_name="ledgerentry",
            name="reason_params",
            field=models.JSONField(
                blank=True,
                db_default=models.Value({}, models.JSONField()),
                default=dict,
                verbose_name="reason parameters",
            ),
        ),
        migrations.AddField(
            model_name="tierchange",
            name="reason_code",
            field=models.CharField(blank=True, db_default="", default="", max_length=30, verbose_name="reason code"),
        ),
        migrations.AddField(
            model_name="tierchange",
            name="reason_params",
            field=models.JSONField(
                blank=True,
                db_default=models.Value({}, models.JSONField()),
                default=dict,
                verbose_name="reason parameters",
            ),
        ),
        migrations.AlterField(
            model_name="ledgerentry",
            name="reason",
            field=models.CharField(blank=True, db_default="", default="", max_length=255, verbose_name="reason"),
        ),
        migrations.AlterField(
            model_name="tierchange",
            name="reason",
            field=models.CharField(blank=True, db_default="", default="", max_length=200, verbose_name="reason"),
        ),
        append_only_after_remake("rewards_ledgerentry"),
    ]
