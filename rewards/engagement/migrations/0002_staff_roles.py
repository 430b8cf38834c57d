"""The staff roles (rewards 0003_staff_roles) get their permissions on challenges, badges and referrals."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ALL = ["view", "add", "change", "delete"]
GRANTS = {
    "Programme manager": {
        "challenge": ALL,
        "badge": ALL,
        "badgeaward": ["view", "add", "delete"],
        "challengeprogress": ["view"],
        "challengecompletion": ["view"],
        "referral": ["view", "change"],
        "leaderboardprofile": ["view", "change"],
        "engagementsettings": ["view", "change"],
    },
    "Marketing": {
        "challenge": ALL,
        "badge": ALL,
        "badgeaward": ["view"],
        "challengeprogress": ["view"],
        "challengecompletion": ["view"],
        "referral": ["view"],
        "leaderboardprofile": ["view"],
        "engagementsettings": ["view"],
    },
    "Support": {
        "challenge": ["view"],
        "badge": ["view"],
        "badgeaward": ["view"],
        "challengeprogress": ["view"],
        "challengecompletion": ["view"],
        "referral": ["view"],
        "leaderboardprofile": ["view", "change"],  # hide an offensive display name a member chose
    },
    "Analyst": {
        "challenge": ["view"],
        "badge": ["view"],
        "badgeaward": ["view"],
        "challengeprogress": ["view"],
        "challengecompletion": ["view"],
        "referral": ["view"],
    },
}


def _permissions(apps, role):
    Permission = apps.get_model("auth", "Permission")
    codenames = [f"{action}_{model}" for model, actions in GRANTS[role].items() for action in actions]
    return list(Permission.objects.filter(content_type__app_label="engagement", codename__in=codenames))


def grant(apps, schema_editor):
    # Permissions are normally created after migrate; create the new models' now so the groups can hold them.
    app_config = apps.get_app_config("engagement")
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
    dependencies = [("engagement", "0001_initial"), ("rewards", "0003_staff_roles")]

    operations = [migrations.RunPython(grant, revoke)]
