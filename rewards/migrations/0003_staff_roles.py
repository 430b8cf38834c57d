"""Staff roles as groups with permissions: programme manager, marketing, support, analyst."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = {
    "Programme manager": {
        "members": ["view", "add", "change"],
        "rewards": ["view", "add", "change"],
        "campaigns": ["view", "add", "change", "delete"],
        "analytics": ["view"],
        "extra": ["members.view_member_personal_data", "rewards.adjust_points", "members.merge_members"],
    },
    "Marketing": {
        "members": ["view"],
        "rewards": ["view"],
        "campaigns": ["view", "add", "change", "delete"],
        "analytics": ["view"],
        "extra": [],
    },
    "Support": {
        "members": ["view", "change"],
        "rewards": ["view"],
        "campaigns": ["view"],
        "analytics": [],
        "extra": ["members.view_member_personal_data", "rewards.adjust_points", "members.merge_members"],
    },
    "Analyst": {
        "members": ["view"],
        "rewards": ["view"],
        "campaigns": ["view"],
        "analytics": ["view"],
        "extra": [],
    },
}
# Append-only records: no role may change or delete them, whatever the app-wide grant says.
NEVER = {
    "change_ledgerentry",
    "delete_ledgerentry",
    "change_consentevent",
    "delete_consentevent",
    "delete_member",
    "delete_purchase",
    "delete_pointsaccount",
    "change_pointsaccount",
    "add_ledgerentry",
    "add_pointsaccount",
    "change_pointslot",
    "add_pointslot",
    "delete_pointslot",
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after migrate; create them now so the groups can hold them.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, grants in ROLES.items():
        group, _ = Group.objects.get_or_create(name=role)
        perms = []
        for app_label in ("members", "rewards", "campaigns", "analytics"):
            # Only the model-level codenames (view_member, ...): custom permissions such as
            # view_member_personal_data are granted explicitly through "extra", never by prefix.
            try:
                models = [m._meta.model_name for m in apps.get_app_config(app_label).get_models()]
            except LookupError:
                continue  # an app with no models yet; its own migration grants its permissions
            codenames = {f"{action}_{model}" for action in grants[app_label] for model in models} - NEVER
            perms += list(Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames))
        for dotted in grants["extra"]:
            app_label, codename = dotted.split(".")
            perms += list(Permission.objects.filter(content_type__app_label=app_label, codename=codename))
        group.permissions.set(perms)


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0002_ledger_append_only"),
        ("members", "0002_consent_events_append_only"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, drop_roles)]
