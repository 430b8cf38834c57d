"""The staff roles (rewards 0003_staff_roles) may look at the portal's account tokens and data export requests in
the admin (view only: members.admin.accounts): programme managers and support, who answer members whose code never
came or whose export never finished. Marketing and analysts do not need them: the view permission that
0003_staff_roles gives them on every members model (which includes these two when the tables already existed as
it ran, as in a fresh database) is taken back, so every database ends with the same grants."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Programme manager": ["view_accounttoken", "view_dataexport"],
    "Support": ["view_accounttoken", "view_dataexport"],
}
WITHHELD = {
    "Marketing": ["view_accounttoken", "view_dataexport"],
    "Analyst": ["view_accounttoken", "view_dataexport"],
}


def _permissions(apps, codenames):
    Permission = apps.get_model("auth", "Permission")
    return list(Permission.objects.filter(content_type__app_label="members", codename__in=codenames))


def grant(apps, schema_editor):
    # Permissions are normally created after migrate; create them now so the groups can hold them.
    app_config = apps.get_app_config("members")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for role, codenames in GRANTS.items():
        group = Group.objects.filter(name=role).first()  # a role an administrator deleted stays deleted
        if group is not None:
            group.permissions.add(*_permissions(apps, codenames))
    for role, codenames in WITHHELD.items():
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for role, codenames in GRANTS.items():
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, codenames))


class Migration(migrations.Migration):
    dependencies = [
        ("members", "0011_verbose_names_adminpl"),
        ("rewards", "0003_staff_roles"),  # the roles
    ]

    operations = [migrations.RunPython(grant, revoke)]
