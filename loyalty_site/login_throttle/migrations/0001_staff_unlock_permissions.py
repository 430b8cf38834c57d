"""The staff roles that manage members (0003_staff_roles) may see and clear failed login attempts."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = ["Programme manager", "Support"]
CODENAMES = ["view_accessattempt", "delete_accessattempt"]


def _permissions(apps):
    Permission = apps.get_model("auth", "Permission")
    return list(Permission.objects.filter(content_type__app_label="axes", codename__in=CODENAMES))


def grant(apps, schema_editor):
    # Permissions are normally created after migrate; create axes's now so the groups can hold them.
    app_config = apps.get_app_config("axes")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=ROLES):  # a role an administrator deleted stays deleted
        group.permissions.add(*_permissions(apps))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for group in Group.objects.filter(name__in=ROLES):
        group.permissions.remove(*_permissions(apps))


class Migration(migrations.Migration):
    dependencies = [
        ("axes", "0010_accessattemptexpiration"),
        ("rewards", "0003_staff_roles"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
