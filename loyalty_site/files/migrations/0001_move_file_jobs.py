"""ImportJob, ImportRowError and ExportJob move here from `members` with their tables and rows: the models
are created in this app's state only (`db_table` keeps the tables' names), and members' 0009 deletes them
from its state only, so no table is rebuilt and no SQL runs. Their content types follow (app label
"members" -> "files"), so the permissions on them, and the admin's log entries, stay attached."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MODELS = ("importjob", "importrowerror", "exportjob")


def _move(apps, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not ContentType.objects.filter(app_label=new, model=model).exists():
            ContentType.objects.filter(app_label=old, model=model).update(app_label=new)


def content_types_follow(apps, schema_editor):
    _move(apps, "members", "files")


def content_types_return(apps, schema_editor):
    _move(apps, "files", "members")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("members", "0008_job_claims"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="ImportJob",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("kind", models.CharField(max_length=30, verbose_name="what is imported")),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("queued", "Waiting for preview"),
                                    ("previewing", "Previewing"),
                                    ("previewed", "Preview ready"),
                                    ("importing", "Importing"),
                                    ("done", "Imported"),
                                    ("failed", "Failed"),
                                    ("cancelled", "Cancelled"),
                                ],
                                default="queued",
                                max_length=12,
                            ),
                        ),
                        ("file", models.FileField(upload_to="imports/%Y/%m/")),
                        ("original_name", models.CharField(max_length=255)),
                        ("size", models.PositiveBigIntegerField(default=0)),
                        ("options", models.JSONField(blank=True, default=dict)),
                        (
                            "only_valid_rows",
                            models.BooleanField(
                                default=False,
                                help_text="Otherwise a file with errors imports nothing.",
                                verbose_name="import only the valid rows",
                            ),
                        ),
                        ("encoding", models.CharField(blank=True, max_length=20)),
                        ("total_rows", models.PositiveIntegerField(default=0)),
                        ("previewed_rows", models.PositiveIntegerField(default=0)),
                        (
                            "processed_rows",
                            models.PositiveIntegerField(
                                default=0, help_text="Rows applied and committed: where a restarted import continues."
                            ),
                        ),
                        ("counts", models.JSONField(blank=True, default=dict)),
                        (
                            "sample",
                            models.JSONField(
                                blank=True, default=list, help_text="The first rows, as the preview shows them."
                            ),
                        ),
                        ("error_message", models.TextField(blank=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("started_at", models.DateTimeField(blank=True, null=True)),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "lines_file",
                            models.FileField(blank=True, upload_to="imports/%Y/%m/", verbose_name="lines file"),
                        ),
                        ("lines_original_name", models.CharField(blank=True, max_length=255)),
                        ("claim", models.CharField(blank=True, editable=False, max_length=32)),
                        ("heartbeat_at", models.DateTimeField(blank=True, editable=False, null=True)),
                        (
                            "created_by",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "import",
                        "verbose_name_plural": "imports",
                        "db_table": "members_importjob",
                        "ordering": ["-created_at", "-id"],
                    },
                ),
                migrations.CreateModel(
                    name="ImportRowError",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("line", models.PositiveIntegerField()),
                        ("column", models.CharField(blank=True, max_length=100)),
                        ("value", models.CharField(blank=True, max_length=255)),
                        ("message", models.CharField(max_length=500)),
                        (
                            "job",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="row_errors",
                                to="files.importjob",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "members_importrowerror",
                        "ordering": ["line", "id"],
                    },
                ),
                migrations.CreateModel(
                    name="ExportJob",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "model_label",
                            models.CharField(help_text="app_label.model_name", max_length=100, verbose_name="list"),
                        ),
                        (
                            "filters",
                            models.TextField(
                                blank=True, help_text="The changelist's query string.", verbose_name="filters"
                            ),
                        ),
                        (
                            "file_format",
                            models.CharField(
                                choices=[("csv", "CSV"), ("xlsx", "XLSX")], max_length=4, verbose_name="format"
                            ),
                        ),
                        ("resource_index", models.PositiveSmallIntegerField(default=0)),
                        (
                            "columns",
                            models.JSONField(
                                blank=True, default=list, help_text="The columns chosen; empty: all of them."
                            ),
                        ),
                        ("personal_data", models.BooleanField(default=False, verbose_name="personal data")),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("queued", "Waiting"),
                                    ("running", "Being prepared"),
                                    ("done", "Ready"),
                                    ("failed", "Failed"),
                                ],
                                default="queued",
                                max_length=10,
                                verbose_name="status",
                            ),
                        ),
                        ("total_rows", models.PositiveIntegerField(default=0, verbose_name="rows")),
                        ("written_rows", models.PositiveIntegerField(default=0, verbose_name="rows written")),
                        (
                            "file",
                            models.FileField(
                                blank=True, max_length=255, upload_to="exports/%Y/%m/", verbose_name="file"
                            ),
                        ),
                        ("error_message", models.TextField(blank=True, verbose_name="error")),
                        ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="requested at")),
                        ("started_at", models.DateTimeField(blank=True, null=True, verbose_name="started at")),
                        ("finished_at", models.DateTimeField(blank=True, null=True, verbose_name="finished at")),
                        ("claim", models.CharField(blank=True, editable=False, max_length=32)),
                        ("heartbeat_at", models.DateTimeField(blank=True, editable=False, null=True)),
                        (
                            "created_by",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                                verbose_name="requested by",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name": "export",
                        "verbose_name_plural": "exports",
                        "db_table": "members_exportjob",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [
                            models.Index(fields=["created_by", "-created_at"], name="members_exp_created_919ba3_idx")
                        ],
                        "constraints": [
                            models.CheckConstraint(
                                condition=models.Q(("file_format__in", ["csv", "xlsx"])), name="export_job_known_format"
                            )
                        ],
                    },
                ),
                migrations.AddConstraint(
                    model_name="importjob",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            ("processed_rows__lte", models.F("total_rows")), ("total_rows", 0), _connector="OR"
                        ),
                        name="import_processed_within_total",
                    ),
                ),
                migrations.AddIndex(
                    model_name="importrowerror",
                    index=models.Index(fields=["job", "line"], name="members_imp_job_id_3c215a_idx"),
                ),
            ],
        ),
        migrations.RunPython(content_types_follow, content_types_return, elidable=False),
    ]
