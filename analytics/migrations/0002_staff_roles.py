"""The staff roles see the dashboard; the programme manager and the analyst also set its figures and recompute."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Programme manager": ["view_dashboard", "view_analyticssettings", "change_analyticssettings", "view_memberscore"],
    "Marketing": ["view_dashboard", "view_memberscore"],
    "Analyst": ["view_dashboard", "view_analyticssettings", "change_analyticssettings", "view_memberscore"],
}


def _permissions(apps, role):
    Permission = apps.get_model("auth", "Permission")
    return list(Permission.objects.filter(content_type__app_label="analytics", codename__in=GRANTS[role]))


def grant(apps, schema_editor):
    # Permissions are normally created after migrate; create them now so the groups can hold them.
    app_config = apps.get_app_config("analytics")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for role in GRANTS:
        group = Group.objects.filter(name=role).first()  # a role an administrator deleted stays deleted
        if group is not None:
            group.permissions.add(*_permissions(apps, role))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for role in GRANTS:
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, role))


class Migration(migrations.Migration):
    dependencies = [("analytics", "0001_initial"), ("rewards", "0003_staff_roles")]

    operations = [migrations.RunPython(grant, revoke)]
