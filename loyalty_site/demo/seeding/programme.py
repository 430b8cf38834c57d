"""The demo's start: an empty database checked (or reset), the programme's settings, rules and tiers."""

from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.core.management.color import no_style
from django.db import connection, connections, transaction

from loyalty_site.demo.data import (
    black_friday,
)
from loyalty_site.demo.seeding.common import CONSENT_WORDING, DEMO_APPS, MEMBER_LOGIN
from members.models import Channel, ConsentPurpose, ConsentText, Member
from rewards.models import EarningRule, EventRule, ProgramSettings, Tier


class ProgrammeSeeding:
    """demo_seed's first steps."""

    def refuse_if_not_empty(self) -> None:
        found = {
            "members": Member.objects.count(),
            "tiers": Tier.objects.count(),
            "earning rules": EarningRule.objects.count(),
            "event rules": EventRule.objects.count(),
        }
        if any(found.values()):
            what = ", ".join(f"{count:,} {name}" for name, count in found.items() if count)
            raise CommandError(
                f"The database already has data ({what}); nothing was changed. demo_seed fills an empty "
                "database. To start over: `manage.py demo_seed --reset` (wipes members, points, campaigns "
                "and analytics), or on SQLite delete db.sqlite3 and run `manage.py migrate` first."
            )

    def reset(self, *, interactive: bool) -> None:
        vendor = connection.vendor
        if vendor not in ("sqlite", "postgresql"):
            raise CommandError(f"--reset supports SQLite and PostgreSQL, not {vendor}.")
        name = connection.settings_dict["NAME"]
        what = (
            f"the SQLite database {name} is deleted and migrated again"
            if vendor == "sqlite"
            else f"every table of {', '.join(DEMO_APPS)} in the PostgreSQL database {name} is truncated"
        )
        if interactive:
            answer = input(f"--reset: {what}. This cannot be undone. Type 'yes' to continue: ")
            if answer.strip().lower() != "yes":
                raise CommandError("Reset cancelled; nothing was changed.")
        if vendor == "sqlite":
            # The ledger and consent tables refuse DELETE (triggers): recreate the file instead.
            if str(name) == ":memory:" or "mode=memory" in str(name):
                raise CommandError("--reset needs a file database.")
            connections.close_all()
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{name}{suffix}").unlink(missing_ok=True)
            call_command("migrate", interactive=False, verbosity=0)
        else:
            # TRUNCATE is allowed by the append-only triggers (they refuse row UPDATE and DELETE only).
            tables = [
                model._meta.db_table
                for label in DEMO_APPS
                for model in apps.get_app_config(label).get_models(include_auto_created=True)
            ]
            statements = connection.ops.sql_flush(no_style(), tables, reset_sequences=True, allow_cascade=True)
            with transaction.atomic():
                connection.ops.execute_sql_flush(statements)
                get_user_model().objects.filter(username=MEMBER_LOGIN[0], is_staff=False).delete()
        self.log(f"Reset: {what}.")

    @transaction.atomic
    def seed_programme(self) -> None:
        ProgramSettings.objects.update_or_create(
            pk=1,
            defaults={
                "base_points_per_pln": Decimal("1"),
                "pending_days": 14,
                "points_lifetime_months": 12,
                "tier_window_months": 12,
                "tier_grace_days": 30,
                "max_points_per_purchase": None,
            },
        )
        self.bronze = Tier.objects.create(
            code="bronze",
            name="Brązowy",
            rank=0,
            threshold=Decimal("0"),
            benefits="1 punkt za każdą złotówkę. Punkty ważne 12 miesięcy.",
        )
        Tier.objects.create(
            code="silver",
            name="Srebrny",
            rank=1,
            threshold=Decimal("1500"),
            earn_multiplier=Decimal("1.25"),
            discount_percent=Decimal("3"),
            benefits="Od 1500 zł zakupów w 12 miesięcy: punkty x1,25 i 3% rabatu.",
        )
        Tier.objects.create(
            code="gold",
            name="Złoty",
            rank=2,
            threshold=Decimal("5000"),
            earn_multiplier=Decimal("1.5"),
            discount_percent=Decimal("5"),
            benefits="Od 5000 zł zakupów w 12 miesięcy: punkty x1,5, 5% rabatu i darmowa dostawa.",
        )
        friday = black_friday(self.now.year)
        if friday + timedelta(days=4) > self.now.date():
            friday = black_friday(self.now.year - 1)
        bf_start = datetime.combine(friday, datetime.min.time(), tzinfo=self.tz)
        EarningRule.objects.bulk_create(
            [
                EarningRule(name="Kosmetyki x2", kind=EarningRule.Kind.MULTIPLIER, multiplier=2, category="Kosmetyki"),
                EarningRule(name="Alkohol bez punktów", kind=EarningRule.Kind.EXCLUDE, category="Alkohol"),
                EarningRule(
                    name=f"Black Friday {friday.year} x3",
                    kind=EarningRule.Kind.MULTIPLIER,
                    multiplier=3,
                    starts_at=bf_start,
                    ends_at=bf_start + timedelta(days=4),  # through Cyber Monday
                ),
                EarningRule(
                    name="Weekend online x1,5",
                    kind=EarningRule.Kind.MULTIPLIER,
                    multiplier=Decimal("1.5"),
                    store="online",
                    weekdays="6,7",
                ),
                EarningRule(
                    name="Koszyk od 200 zł: +50 pkt",
                    kind=EarningRule.Kind.BONUS,
                    bonus_points=50,
                    min_basket=Decimal("200"),
                ),
            ]
        )
        Event = EventRule.Event
        EventRule.objects.bulk_create(
            [
                EventRule(event=Event.JOINED, points=100),
                EventRule(event=Event.PROFILE_COMPLETED, points=50),
                EventRule(event=Event.NEWSLETTER_CONFIRMED, points=20),
                EventRule(event=Event.PRODUCT_RATED, points=10, cap_count=5, cap_period=EventRule.Period.MONTH),
                EventRule(event=Event.SURVEY_ANSWERED, points=30, cap_count=1, cap_period=EventRule.Period.MONTH),
            ]
        )
        valid_from = (self.start - timedelta(days=4 * 365)).date()
        self.texts = {
            key: ConsentText.objects.get_or_create(
                channel=key[0], purpose=key[1], version="1.0", defaults={"text": wording, "valid_from": valid_from}
            )[0]
            for key, wording in CONSENT_WORDING.items()
        }
        assert set(self.texts) == {(c, p) for c in Channel.values for p in ConsentPurpose.values}
        self.log("Programme: settings, 3 tiers, 5 earning rules, 5 event rules, 6 consent texts")
