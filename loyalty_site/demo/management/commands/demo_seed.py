"""Fill an empty database with a Polish demo programme: members, consents, purchases, points and two logins."""

import time as clock
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from loyalty_site.demo import steps as demo_steps
from loyalty_site.demo.seeding.activity import ActivitySeeding
from loyalty_site.demo.seeding.finish import FinishSeeding
from loyalty_site.demo.seeding.people import PeopleSeeding
from loyalty_site.demo.seeding.programme import ProgrammeSeeding
from rewards import services


class Command(ProgrammeSeeding, PeopleSeeding, ActivitySeeding, FinishSeeding, BaseCommand):
    help = (
        "Fill an empty database with demo data: a programme (tiers, earning and event rules, consent texts), "
        "members with Polish names, consents per channel, purchases over the last months with seasonality, "
        "refunds, redemptions and expiry, plus a staff login and a member login. Deterministic for a seed and "
        "a day. Refuses a database that already has members; --reset wipes it first."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--members", type=int, default=3000, help="How many members (default 3000).")
        parser.add_argument("--purchases", type=int, default=30000, help="How many purchases (default 30000).")
        parser.add_argument("--months", type=int, default=18, help="How many months of history (default 18).")
        parser.add_argument("--seed", type=int, default=42, help="Random seed (default 42).")
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Wipe members, points, campaigns and analytics first (SQLite: the database file is recreated).",
        )
        parser.add_argument(
            "--noinput", "--no-input", action="store_false", dest="interactive", help="Do not ask before --reset."
        )
        parser.add_argument(
            "--chunk", type=int, default=20000, help="Purchases posted per batch (default 20000; bounds memory)."
        )

    def handle(self, *args, **options) -> None:
        members, purchases, months = options["members"], options["purchases"], options["months"]
        self.verbosity = options["verbosity"]
        self.last_progress = 0.0
        if members < 1 or purchases < 0 or not 1 <= months <= 120 or options["chunk"] < 1:
            raise CommandError("Use --members >= 1, --purchases >= 0, --months between 1 and 120, --chunk >= 1.")
        if options["reset"]:
            self.reset(interactive=options["interactive"])
        else:
            self.refuse_if_not_empty()
        self.started = self.last_progress = clock.monotonic()
        self.seed = options["seed"]
        self.chunk = options["chunk"]
        self.tz = timezone.get_current_timezone()
        # The history ends at the start of today, so the same seed on the same day gives the same data.
        self.now = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        self.start = services.add_months(self.now, -months)
        self.log(
            f"Demo data: {members:,} members, {purchases:,} purchases, {months} months "
            f"({self.start:%Y-%m-%d} to {self.now - timedelta(days=1):%Y-%m-%d}), seed {self.seed}"
        )
        self.seed_programme()
        buyers, showcase = self.seed_members(members)
        self.seed_purchases(buyers, purchases, showcase)
        self.post_refunds(showcase)
        self.release_and_expire()
        self.redeem(showcase)
        self.log("Tiers: recalculating")
        services.tiers_recalculate_all(now=self.now)
        self.create_logins(showcase)
        demo_steps.run_all(
            demo_steps.DemoContext(
                seed=self.seed,
                now=self.now,
                start=self.start,
                showcase_member_id=showcase,
                log=self.log,
                progress=self.progress,
            )
        )
        self.summary(showcase)

    # --- Safety ------------------------------------------------------------------------------------

    # --- Programme ---------------------------------------------------------------------------------

    # --- Members -----------------------------------------------------------------------------------

    # --- Purchases ---------------------------------------------------------------------------------

    # --- Pending, expiry, redemptions --------------------------------------------------------------

    # --- Logins and summary ------------------------------------------------------------------------

    def log(self, message: str) -> None:
        if self.verbosity < 1:
            return
        self.stdout.write(f"[{self._elapsed()}] {message}")
        self.stdout.flush()

    def progress(self, message: str) -> None:
        if self.verbosity > 1 or (self.verbosity == 1 and clock.monotonic() - self.last_progress >= 2):
            self.last_progress = clock.monotonic()
            self.log(message)

    def _elapsed(self) -> str:
        started = getattr(self, "started", None)
        return f"{clock.monotonic() - started:7.1f}s" if started else "   ---  "
