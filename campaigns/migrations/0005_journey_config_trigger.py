"""Changes of a journey give the programme a new `config_version` (rewards 0008's trigger function), so the
per-process copy of which journeys are on (campaigns.journeys.journeys_switched_on) is reloaded on the next
post, however the journey changed (admin, bulk update, raw SQL)."""

from django.db import migrations

from rewards.sql.programme import config_watched


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0004_voucher_issued_journey"), ("rewards", "0008_config_version")]

    operations = [config_watched("campaigns_journey")]
