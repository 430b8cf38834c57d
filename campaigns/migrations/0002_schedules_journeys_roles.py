"""The beat schedules of campaigns (editable in the admin), one row per journey, and the staff roles' grants."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

SCHEDULES = [
    # name, task, every (seconds) or None, crontab (minute, hour) or None
    ("campaigns-sweep", "campaigns.tasks.campaigns_sweep_task", 60, None),
    ("campaigns-launch-due", "campaigns.tasks.campaigns_launch_due_task", 60, None),
    ("campaigns-journeys-daily", "campaigns.tasks.journeys_daily_task", None, ("0", "9")),
]
JOURNEYS = [("welcome", 0), ("birthday", 0), ("points_expiring", 30), ("tier_upgrade", 0), ("win_back", 90)]
GRANTS = {
    "Programme manager": ["launch_campaign"],
    "Marketing": ["launch_campaign"],
}


def forwards(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, every, cron in SCHEDULES:
        if every:
            interval, _ = IntervalSchedule.objects.get_or_create(every=every, period="seconds")
            defaults = {"task": task, "interval": interval}
        else:
            crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=cron[0],
                hour=cron[1],
                day_of_week="*",
                day_of_month="*",
                month_of_year="*",
                timezone="Europe/Warsaw",
            )
            defaults = {"task": task, "crontab": crontab}
        PeriodicTask.objects.get_or_create(name=name, defaults=defaults)
    Journey = apps.get_model("campaigns", "Journey")
    for code, days in JOURNEYS:
        Journey.objects.get_or_create(code=code, defaults={"days": days or 90, "enabled": False})

    app_config = apps.get_app_config("campaigns")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, codenames in GRANTS.items():
        group = Group.objects.filter(name=role).first()
        if group is None:
            continue
        # The app-wide grants (0003_staff_roles) ran before these models existed: give them now.
        actions = ["view"] if role not in GRANTS else ["view", "add", "change", "delete"]
        models = ["segment", "segmentrule", "segmentmember", "messagetemplate", "campaign", "variant", "journey"]
        wanted = [f"{a}_{m}" for a in actions for m in models] + ["view_delivery", "view_smsoutbox", *codenames]
        group.permissions.add(*Permission.objects.filter(content_type__app_label="campaigns", codename__in=wanted))
    for role in ("Support", "Analyst"):
        group = Group.objects.filter(name=role).first()
        if group is not None:
            group.permissions.add(
                *Permission.objects.filter(
                    content_type__app_label="campaigns",
                    codename__in=[
                        "view_campaign",
                        "view_segment",
                        "view_messagetemplate",
                        "view_delivery",
                        "view_journey",
                        "view_variant",
                    ],
                )
            )


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0001_initial"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
        ("rewards", "0003_staff_roles"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
