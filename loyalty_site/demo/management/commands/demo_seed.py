"""Fill an empty database with a Polish demo programme: members, consents, purchases, points and two logins."""

import inspect
import random
import time as clock
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal
from itertools import islice
from pathlib import Path

from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.management.color import no_style
from django.db import connection, connections, transaction
from django.db.models import Count
from django.utils import timezone

from loyalty_site.demo import steps as demo_steps
from loyalty_site.demo.bulk import insert
from loyalty_site.demo.data import (
    Buyer,
    PeoplePlanner,
    PersonPlan,
    PlannedPurchase,
    PurchasePlanner,
    black_friday,
    showcase_weight,
)
from members.models import Channel, ConsentEvent, ConsentPurpose, ConsentText, LoyaltyCard, Member, Purchase
from members.services import LineData
from rewards import services
from rewards.awards import EventAward, events_award
from rewards.batch import PurchaseRow, purchases_post_batch
from rewards.models import EarningRule, EventRule, PointsAccount, ProgramSettings, Tier, TierChange
from rewards.selectors import ledger_mismatches, member_standing, points_expiring

STAFF_LOGIN = ("admin", "admin-demo-2026")
MEMBER_LOGIN = ("member", "member-demo-2026")
MEMBER_CHUNK = 5000
# Refunds and redemptions go one by one through rewards.services (about 25 queries each), so their number
# is capped: at the default size every planned one is posted; at benchmark sizes a sample of this many.
MAX_REFUNDS = 2000
MAX_REDEMPTIONS = 3000
DEMO_APPS = ("members", "rewards", "campaigns", "analytics")
MEMBER_COLUMNS = (
    "member_number",
    "referral_code",
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_date",
    "gender",
    "city",
    "postal_code",
    "preferred_language",
    "preferred_channel",
    "joined_at",
    "join_source",
    "status",
    "referred_by_id",
)

CONSENT_WORDING = {
    ("email", "marketing"): "Wyrażam zgodę na otrzymywanie e-mailem informacji handlowych i ofert programu "
    "lojalnościowego na podany adres.",
    ("sms", "marketing"): "Wyrażam zgodę na otrzymywanie SMS-em informacji handlowych i ofert programu "
    "lojalnościowego na podany numer telefonu.",
    ("email", "profiling"): "Wyrażam zgodę na analizę historii moich zakupów w celu dopasowania ofert "
    "wysyłanych e-mailem (profilowanie).",
    ("sms", "profiling"): "Wyrażam zgodę na analizę historii moich zakupów w celu dopasowania ofert "
    "wysyłanych SMS-em (profilowanie).",
    ("email", "partners"): "Wyrażam zgodę na przesyłanie e-mailem ofert partnerów programu lojalnościowego.",
    ("sms", "partners"): "Wyrażam zgodę na przesyłanie SMS-em ofert partnerów programu lojalnościowego.",
}


def _accepts(function: Callable, argument: str) -> bool:
    return argument in inspect.signature(function).parameters


def _chunks(iterable, size: int) -> Iterator[list]:
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk


class Command(BaseCommand):
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

    # --- Programme ---------------------------------------------------------------------------------

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

    # --- Members -----------------------------------------------------------------------------------

    def seed_members(self, count: int) -> tuple[list[Buyer], int]:
        """Members with cards, points accounts, consents and sign-up bonuses, written in bulk chunk by chunk."""
        planner = PeoplePlanner(seed=self.seed, count=count, start=self.start, end=self.now, tz=self.tz)
        ids: list[int] = []
        buyers: list[Buyer] = []
        consents = bonuses = 0
        for people in _chunks(planner, MEMBER_CHUNK):
            with transaction.atomic():
                known = len(ids)
                created = insert(Member, MEMBER_COLUMNS, (self._member_row(p, ids) for p in people), return_ids=True)
                ids += created
                # Referrers who joined in an earlier chunk had ids already; those of this chunk are set now.
                for person, member_id in zip(people, created, strict=True):
                    if person.referrer_index is not None and person.referrer_index >= known:
                        Member.objects.filter(pk=member_id).update(referred_by_id=ids[person.referrer_index])
                insert(
                    LoyaltyCard,
                    ("member_id", "number", "issued_at", "is_active"),
                    ((m, p.card_number, p.joined_at, True) for p, m in zip(people, created, strict=True)),
                )
                insert(
                    PointsAccount,
                    ("member_id", "balance", "pending", "tier_id", "tier_since", "updated_at"),
                    ((m, 0, 0, self.bronze.pk, p.joined_at, self.now) for p, m in zip(people, created, strict=True)),
                )
                # Through the service the beat job and imports use, dated when each member earned them.
                awards = [award for p, m in zip(people, created, strict=True) for award in self._events(p, m)]
                bonuses += events_award(awards=awards)
                insert(
                    TierChange,
                    ("member_id", "to_tier_id", "reason", "changed_at"),
                    ((m, self.bronze.pk, "qualified", p.joined_at) for p, m in zip(people, created, strict=True)),
                )
                rows = [
                    (m, channel, purpose, granted, self.texts[channel, purpose].pk if granted else None, source, at)
                    for p, m in zip(people, created, strict=True)
                    for channel, purpose, granted, at, source in p.consents
                ]
                insert(
                    ConsentEvent,
                    ("member_id", "channel", "purpose", "granted", "text_id", "source", "created_at"),
                    rows,
                )
                consents += len(rows)
            buyers += [
                Buyer(m, p.weight, p.active_from, p.active_until, p.home_store, p.online_share)
                for p, m in zip(people, created, strict=True)
            ]
            self.progress(f"Members: {len(ids):,}/{count:,}")
        self.log(
            f"Members: {len(ids):,} with cards and points accounts, {consents:,} consent events, "
            f"{bonuses:,} sign-up bonuses (joined, profile completed, newsletter confirmed)"
        )
        return buyers, ids[0]

    def _member_row(self, person: PersonPlan, ids: list[int]) -> tuple:
        referrer = person.referrer_index
        return (
            person.member_number,
            person.referral_code,
            person.first_name,
            person.last_name,
            person.email,
            person.phone,
            person.birth_date,
            person.gender,
            person.city,
            person.postal_code,
            "pl",
            person.preferred_channel,
            person.joined_at,
            person.join_source,
            Member.Status.ACTIVE,
            ids[referrer] if referrer is not None and referrer < len(ids) else None,
        )

    def _events(self, person: PersonPlan, member_id: int) -> Iterator[EventAward]:
        """The event points a member earned on signing up."""
        yield EventAward(member_id, EventRule.Event.JOINED, "enrolment", person.joined_at)
        if person.profile_complete:
            yield EventAward(
                member_id, EventRule.Event.PROFILE_COMPLETED, "profile", person.joined_at + timedelta(hours=1)
            )
        for channel, purpose, granted, at, _source in person.consents:
            if (channel, purpose, granted) == ("email", "marketing", True):
                yield EventAward(
                    member_id, EventRule.Event.NEWSLETTER_CONFIRMED, "newsletter", at + timedelta(minutes=10)
                )
                break

    # --- Purchases ---------------------------------------------------------------------------------

    def seed_purchases(self, buyers: list[Buyer], total: int, showcase_id: int) -> None:
        first_day = self.start.date()
        planner = PurchasePlanner(
            seed=self.seed, first_day=first_day, last_day=self.now.date() - timedelta(days=1), tz=self.tz
        )
        # The showcase member (the demo login) buys often, has points pending and points about to expire.
        showcase = buyers[0]
        others = sum(b.weight * planner.exposure(b.active_from, b.active_until) for b in buyers[1:])
        target = min(6 * len(planner.days) / 30, total / 10)
        weight = showcase_weight(
            target=target,
            showcase_exposure=planner.exposure(showcase.active_from, showcase.active_until),
            others=others,
            total=total,
        )
        buyers[0] = Buyer(showcase_id, weight, showcase.active_from, showcase.active_until, showcase.home_store, 0.5)
        expiring_from = services.add_months(self.now, -12) - timedelta(days=14)
        extra = [(self.now - timedelta(days=2, hours=6), 0), (self.now - timedelta(days=6, hours=3), 0)]
        extra += [(expiring_from + timedelta(days=days, hours=5), 0) for days in (6, 13, 21)]
        extra = [(at, index) for at, index in extra if at.date() >= first_day][: min(total, 5)]

        self.refunded: list[PlannedPurchase] = []
        posted = points = 0
        started = clock.monotonic()
        for chunk in _chunks(planner.stream(buyers, total, extra), self.chunk):
            rows = [self._row(purchase) for purchase in chunk]
            # The batch commits chunk by chunk; on PostgreSQL it splits the members between two processes.
            result = purchases_post_batch(rows, now=self.now, workers=2 if connection.vendor == "postgresql" else 1)
            posted += result.created
            points += result.points
            self.refunded += [purchase for purchase in chunk if purchase.refund]
            rate = posted / max(clock.monotonic() - started, 0.001)
            self.progress(f"Purchases: {posted:,}/{total:,} ({rate:,.0f}/s)")
        self.log(f"Purchases: {posted:,} posted, {points:,} points earned")

    def _row(self, purchase: PlannedPurchase) -> PurchaseRow:
        return PurchaseRow(
            member_id=purchase.member_id,
            source=purchase.source,
            external_id=purchase.external_id,
            amount=purchase.amount,
            purchased_at=purchase.purchased_at,
            store=purchase.store,
            lines=tuple(
                LineData(sku=line.sku, amount=line.amount, category=line.category, product_name=line.product_name)
                for line in purchase.lines
            ),
        )

    def post_refunds(self, showcase_id: int) -> None:
        # refund_post dates a refund now unless it accepts `at`; the planned date is passed when it does.
        # Until then the showcase member, whose history the demo shows first, gets only refunds of recent
        # purchases: a refund today of a purchase from last year would look wrong on her page.
        dated = _accepts(services.refund_post, "at")
        refunds = [
            planned
            for planned in self.refunded
            if dated or planned.member_id != showcase_id or planned.purchased_at > self.now - timedelta(days=30)
        ]
        if len(refunds) > MAX_REFUNDS:
            rng = random.Random(f"{self.seed}:refunds")
            refunds = [refunds[n] for n in sorted(rng.sample(range(len(refunds)), MAX_REFUNDS))]
        done = 0
        for chunk in _chunks(refunds, 1000):
            wanted = [planned.external_id for planned in chunk]
            by_id = {p.external_id: p for p in Purchase.objects.select_related("member").filter(external_id__in=wanted)}
            with transaction.atomic():
                for planned in chunk:
                    refund = planned.refund
                    extra = {"at": min(refund.at, self.now)} if dated else {}
                    services.refund_post(
                        purchase=by_id[planned.external_id],
                        external_id=refund.external_id,
                        amount=refund.amount,
                        reason="Zwrot towaru",
                        **extra,
                    )
                    done += 1
            self.progress(f"Refunds: {done:,}/{len(refunds):,}")
        self.log(f"Refunds: {done:,} (full and partial)")

    # --- Pending, expiry, redemptions --------------------------------------------------------------

    def release_and_expire(self) -> None:
        with transaction.atomic():
            released = services.points_release_pending(now=self.now)
        # Each expiry dated when its lot ran out: the history shows it when it happened, not today.
        expired = services.points_expire(now=self.now, dated_at_expiry=True)
        self.log(f"Pending released: {released:,}; expired lots: {expired:,}")

    def redeem(self, showcase_id: int) -> None:
        """About a third of members with 200+ points have spent some on vouchers (100 points = 5 zł)."""
        rng = random.Random(f"{self.seed}:redemptions")
        dated = _accepts(services.points_redeem, "at")
        accounts = list(
            PointsAccount.objects.filter(balance__gte=200).order_by("member_id").values_list("member_id", "balance")
        )
        chosen = [(member_id, balance) for member_id, balance in accounts if rng.random() < 0.35]
        if len(chosen) > MAX_REDEMPTIONS:
            chosen = sorted(rng.sample(chosen, MAX_REDEMPTIONS))
        # The showcase member spent a little: FIFO takes the soonest-expiring points, and some should be left.
        chosen = [(member_id, balance) for member_id, balance in chosen if member_id != showcase_id]
        if dict(accounts).get(showcase_id, 0) >= 400:
            chosen.insert(0, (showcase_id, 200))
        done = 0
        for chunk in _chunks(chosen, 1000):
            with transaction.atomic():
                for member_id, balance in chunk:
                    points = (
                        100 * rng.randint(1, max(1, int(balance * 0.6) // 100)) if member_id != showcase_id else 200
                    )
                    extra = {"at": self.now - timedelta(days=rng.uniform(1, 120))} if dated else {}
                    services.points_redeem(
                        member=Member(pk=member_id),
                        points=points,
                        reason=f"Bon rabatowy {points // 20} zł",
                        idempotency_key=f"demo-redeem:{member_id}",
                        **extra,
                    )
                    done += 1
            self.progress(f"Redemptions: {done:,}/{len(chosen):,}")
        self.log(f"Redemptions: {done:,} vouchers")

    # --- Logins and summary ------------------------------------------------------------------------

    def create_logins(self, showcase_id: int) -> None:
        User = get_user_model()
        username, password = STAFF_LOGIN
        admin = User.objects.filter(username=username).first()
        if admin is None:
            User.objects.create_superuser(username=username, email="admin@example.com", password=password)
            self.staff_note = f"{username} / {password}"
        else:
            self.staff_note = f"{username} (existed already; password unchanged)"
        username, password = MEMBER_LOGIN
        showcase = Member.objects.get(pk=showcase_id)
        user = User.objects.create_user(username=username, email=showcase.email, password=password)
        user.first_name, user.last_name = showcase.first_name, showcase.last_name
        user.save(update_fields=["first_name", "last_name"])
        Member.objects.filter(pk=showcase_id).update(user=user)
        self.member_note = f"{username} / {password}  ({showcase.full_name}, {showcase.member_number})"

    def summary(self, showcase_id: int) -> None:
        showcase = Member.objects.get(pk=showcase_id)
        standing = member_standing(member=showcase)
        expiring = points_expiring(member=showcase, days=30)
        problems = ledger_mismatches()
        if problems:
            raise CommandError(f"The ledger does not add up for {len(problems)} accounts, e.g. {problems[:3]}")
        tiers = dict(PointsAccount.objects.values("tier__name").annotate(n=Count("id")).values_list("tier__name", "n"))
        elapsed = clock.monotonic() - self.started
        self.log(f"Tiers: {', '.join(f'{name}: {count:,}' for name, count in sorted(tiers.items()))}")
        self.log(
            f"Showcase member {showcase.full_name}: tier {standing.tier}, {standing.balance:,} points, "
            f"{standing.pending:,} pending, {expiring:,} expiring within 30 days"
        )
        self.log(f"Ledger check: all {PointsAccount.objects.count():,} accounts match their entries and lots")
        self.log(f"Done in {elapsed:,.0f} s.")
        self.stdout.write("")
        self.stdout.write(self.style.SUCCESS(f"Staff login (admin):   {self.staff_note}"))
        self.stdout.write(self.style.SUCCESS(f"Member login (portal): {self.member_note}"))

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
