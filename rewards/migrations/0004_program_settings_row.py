"""The programme settings row exists from the start, so reads never have to create it."""

from django.db import migrations


def create_row(apps, schema_editor):
    apps.get_model("rewards", "ProgramSettings").objects.get_or_create(pk=1)


class Migration(migrations.Migration):
    dependencies = [("rewards", "0003_staff_roles")]

    operations = [migrations.RunPython(create_row, migrations.RunPython.noop)]
