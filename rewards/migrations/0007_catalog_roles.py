"""The staff roles (0003_staff_roles) get their permissions on the reward catalog and partners."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Programme manager": {
        "reward": ["view", "add", "change", "delete"],
        "partner": ["view", "add", "change", "delete"],
    },
    "Marketing": {"reward": ["view", "change"], "partner": ["view"]},
    "Support": {"reward": ["view"], "partner": ["view"]},
    "Analyst": {"reward": ["view"], "partner": ["view"]},
}


def _permissions(apps, role):
    Permission = apps.get_model("auth", "Permission")
    codenames = [f"{action}_{model}" for model, actions in GRANTS[role].items() for action in actions]
    return list(Permission.objects.filter(content_type__app_label="rewards", codename__in=codenames))


def grant(apps, schema_editor):
    # Permissions are normally created after migrate; create the new models' now so the groups can hold them.
    app_config = apps.get_app_config("rewards")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for role in GRANTS:
        # A role an administrator deleted stays deleted.
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.add(*_permissions(apps, role))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for role in GRANTS:
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.remove(*_permissions(apps, role))


class Migration(migrations.Migration):
    dependencies = [("rewards", "0006_partner_reward")]

    operations = [migrations.RunPython(grant, revoke)]
