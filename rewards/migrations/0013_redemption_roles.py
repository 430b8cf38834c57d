"""The staff roles (0003_staff_roles) get their permissions on categories, redemptions and vouchers: support and
programme managers work at the till (look up, mark used, cancel, redeem for a member); everyone may read."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GRANTS = {
    "Programme manager": [
        "view_category", "add_category", "change_category", "delete_category",
        "view_redemption", "view_voucher", "view_voucherlookup",
        "use_voucher", "cancel_voucher", "redeem_for_member",
    ],
    "Marketing": ["view_category", "add_category", "change_category", "view_redemption", "view_voucher"],
    "Support": [
        "view_category", "view_redemption", "view_voucher", "view_voucherlookup",
        "use_voucher", "cancel_voucher", "redeem_for_member",
    ],
    "Analyst": ["view_category", "view_redemption", "view_voucher"],
}  # fmt: skip


def _permissions(apps, role):
    Permission = apps.get_model("auth", "Permission")
    return list(Permission.objects.filter(content_type__app_label="rewards", codename__in=GRANTS[role]))


def grant(apps, schema_editor):
    # Permissions are normally created after migrate; create the new models' now so the groups can hold them.
    app_config = apps.get_app_config("rewards")
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
    dependencies = [("rewards", "0012_redemption_vouchers")]

    operations = [migrations.RunPython(grant, revoke)]
