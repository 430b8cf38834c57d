"""Changes of challenges, badges and the engagement settings give the programme a new `config_version`
(rewards 0008's trigger function), so the per-process copy of them (rewards.engagement.config) is reloaded on
the next post, however they changed (admin, bulk update, raw SQL)."""

from django.db import migrations

from rewards.sql.programme import config_watched


class Migration(migrations.Migration):
    dependencies = [("engagement", "0002_staff_roles"), ("rewards", "0008_config_version")]

    operations = [config_watched("engagement_challenge", "engagement_badge", "engagement_engagementsettings")]
