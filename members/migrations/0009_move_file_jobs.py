"""ImportJob, ImportRowError and ExportJob leave members' state for `loyalty_site.files` (its 0001), which took
them with their tables: nothing changes in the database."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0008_job_claims"),
        ("files", "0001_move_file_jobs"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.RemoveField(
                    model_name="importjob",
                    name="created_by",
                ),
                migrations.RemoveField(
                    model_name="importrowerror",
                    name="job",
                ),
                migrations.DeleteModel(
                    name="ExportJob",
                ),
                migrations.DeleteModel(
                    name="ImportJob",
                ),
                migrations.DeleteModel(
                    name="ImportRowError",
                ),
            ],
        ),
    ]
