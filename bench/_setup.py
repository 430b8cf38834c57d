"""Shared set-up for the benchmarks: Django on a freshly created PostgreSQL database, members, tiers, rules.

The database named in DATABASE_URL is dropped and created again, so its name must contain "bench".
"""

import os
import platform
import random
import resource
import secrets
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CATEGORIES = ["Spożywcze", "Kosmetyki", "Dom", "Odzież", "Alkohol", "Elektronika"]
STORES = ["online", "WAW01", "KRK02", "GDN03", "POZ04"]


def database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(
            "The benches measure PostgreSQL: set DATABASE_URL, e.g.\n"
            "  DATABASE_URL=postgres://loyalty@127.0.0.1:55432/loyalty_bench python bench/bench_post_batch.py"
        )
    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"Refusing to drop the database '{name}': the bench database's name must contain 'bench'.")
    return url


def reset_database(url: str) -> None:
    """Drop and create the bench database (the ledger's triggers refuse DELETE), then migrate it."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    from django.db import connections

    connections.close_all()
    maintenance = parts._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def bootstrap() -> str:
    """Configure Django for the bench database (DEBUG off, so queries are not logged) and return its URL."""
    url = database_url()
    os.environ["DEBUG"] = "0"
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(40))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_site.settings")
    import django

    django.setup()
    return url


def machine_info() -> dict[str, str]:
    from django.db import connection

    model = "unknown"
    memory = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        pg_version = cursor.fetchone()[0]
    import django

    return {
        "cores (nproc)": str(os.cpu_count()),
        "CPU": model,
        "RAM": memory,
        "PostgreSQL": pg_version,
        "Python": platform.python_version(),
        "Django": django.get_version(),
        "load average": load_average(),
    }


def load_average() -> str:
    """1, 5 and 15 minutes: above 0.5 or so something else was using the CPU."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def print_machine_info() -> None:
    print("Machine:")
    for key, value in machine_info().items():
        print(f"  {key:15} {value}")


def analyze() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def create_programme() -> None:
    """Settings, three tiers and earning rules of every kind, so the rules engine really works."""
    from rewards.models import EarningRule, ProgramSettings, Tier

    ProgramSettings.objects.update_or_create(
        pk=1,
        defaults={
            "base_points_per_pln": Decimal("1"),
            "pending_days": 14,
            "points_lifetime_months": 12,
            "tier_window_months": 12,
            "tier_grace_days": 30,
            "max_points_per_purchase": 3000,
        },
    )
    Tier.objects.create(code="bronze", name="Brązowy", rank=0, threshold=Decimal("0"))
    silver = Tier.objects.create(
        code="silver", name="Srebrny", rank=1, threshold=Decimal("2000"), earn_multiplier=Decimal("1.25")
    )
    Tier.objects.create(code="gold", name="Złoty", rank=2, threshold=Decimal("6000"), earn_multiplier=Decimal("1.5"))
    EarningRule.objects.create(name="Kosmetyki x2", kind="multiplier", multiplier=Decimal("2"), category="Kosmetyki")
    EarningRule.objects.create(name="Bez alkoholu", kind="exclude", category="Alkohol")
    EarningRule.objects.create(
        name="Weekend x2", kind="multiplier", multiplier=Decimal("2"), weekdays="6,7", max_points=200
    )
    EarningRule.objects.create(name="Koszyk 300 zł +50", kind="bonus", bonus_points=50, min_basket=Decimal("300"))
    EarningRule.objects.create(
        name="Srebrni w sklepie online x1.5",
        kind="multiplier",
        multiplier=Decimal("1.5"),
        tier=silver,
        store="online",
        max_points=100,
    )


def create_members(count: int, *, batch_size: int = 5000) -> list[int]:
    """Members straight into the table: numbers and referral codes unique by construction."""
    from members.models import Member

    first_names = ["Anna", "Jan", "Katarzyna", "Piotr", "Maria", "Tomasz", "Agnieszka", "Paweł"]
    last_names = ["Nowak", "Kowalski", "Wiśniewska", "Wójcik", "Kamińska", "Lewandowski", "Zielińska"]
    Member.objects.bulk_create(
        (
            Member(
                member_number=f"9{n:09d}",
                referral_code=f"B{n:08d}",
                first_name=first_names[n % len(first_names)],
                last_name=last_names[n % len(last_names)],
                email=f"czlonek{n}@example.pl",
            )
            for n in range(count)
        ),
        batch_size=batch_size,
    )
    return list(Member.objects.order_by("pk").values_list("pk", flat=True))


def purchase_rows(member_ids: list[int], count: int, *, now: datetime, seed: int = 20260101, prefix: str = "B"):
    """`count` purchases over the members, over the last 120 days (a few inside the 14-day return window);
    about 30% carry one to three lines."""
    from members.services import LineData
    from rewards.batch import PurchaseRow

    rng = random.Random(seed)
    rows = []
    for n in range(count):
        amount = Decimal(rng.randint(500, 60000)) / 100
        lines: tuple = ()
        if rng.random() < 0.3:
            parts = rng.randint(1, 3)
            share = (amount / parts).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
            lines = tuple(
                LineData(sku=f"SKU{rng.randint(1, 500):04d}", category=rng.choice(CATEGORIES), amount=share)
                for _ in range(parts)
            )
        rows.append(
            PurchaseRow(
                member_id=rng.choice(member_ids),
                source="pos",
                external_id=f"{prefix}{n:09d}",
                amount=amount,
                purchased_at=now - timedelta(days=rng.random() * 120),
                store=rng.choice(STORES),
                lines=lines,
            )
        )
    rows.sort(key=lambda row: row.purchased_at)  # a till export comes in time order
    return rows


@contextmanager
def timed(label: str, results: dict):
    start = time.perf_counter()
    yield
    results[label] = time.perf_counter() - start


def children_peak_rss_mb() -> float:
    """The highest peak resident memory of this process's children that have ended (the batch's forked
    posting processes). ru_maxrss: a forked child starts from its parent's peak, so this is an upper bound
    of each child's own, shared pages counted in full."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not getrusage's ru_maxrss: Linux keeps ru_maxrss across
    fork and exec, so a worker started by a bigger process would report that process's peak as its own."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
