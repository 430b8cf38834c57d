from django.db import migrations

from loyalty_site.append_only import append_only


class Migration(migrations.Migration):
    dependencies = [("rewards", "0001_initial")]

    operations = [append_only("rewards_ledgerentry")]
