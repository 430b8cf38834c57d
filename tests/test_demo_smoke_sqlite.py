"""The demo as scripts/demo.sh runs it, on SQLite: migrate and demo_seed in subprocesses, a consistent ledger,
the two logins, and a Celery worker on the filesystem broker that runs a task sent to it. Plus the shape of
the generated data (Polish names, seasons, lapsed buyers), checked on the planner without a database."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from loyalty_site.demo.data import Buyer, PeoplePlanner, PurchasePlanner

pytestmark = pytest.mark.smoke_sqlite

ROOT = Path(__file__).resolve().parent.parent
MEMBERS, PURCHASES = 200, 2000

CHECK = """
import json
from datetime import datetime
from django.contrib.auth import authenticate
from django.db.models import Count
from members.models import ConsentEvent, LoyaltyCard, Member, Purchase, Refund
from rewards import services
from rewards.models import LedgerEntry, PointsAccount, PointsLot
from rewards.selectors import ledger_mismatches, member_standing, points_expiring

member_user = authenticate(username="member", password="member-demo-2026")
admin_user = authenticate(username="admin", password="admin-demo-2026")
showcase = member_user.member
standing = member_standing(member=showcase)
anchor = datetime.fromisoformat(ANCHOR)
services.event_award(member=showcase, event="joined", reference="enrolment")
from django.db import DatabaseError, connection, transaction
refused = []
for statement in ("UPDATE rewards_ledgerentry SET points = points + 1", "DELETE FROM rewards_ledgerentry"):
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)
    except DatabaseError as exc:
        refused.append("append-only" in str(exc))
from decimal import Decimal
from django.utils import timezone
now = timezone.now()
since = services.add_months(now, -12)
window = Purchase.objects.filter(member=showcase, purchased_at__gte=since, purchased_at__lte=now)
spend_exact = sum((p.amount - p.refunded_amount for p in window), Decimal("0"))
spend = services.tier_progress_value(member=showcase, tier_basis="spend", now=now, window_months=12)
print("RESULT:" + json.dumps({
    "ledger_refused": refused,
    "spend": [str(spend), str(spend_exact)],
    "mismatches": ledger_mismatches(),
    "members": Member.objects.count(),
    "accounts": PointsAccount.objects.count(),
    "cards": LoyaltyCard.objects.values("number").distinct().count(),
    "purchases": Purchase.objects.count(),
    "refunds": Refund.objects.count(),
    "redemptions": LedgerEntry.objects.filter(kind="redeem").count(),
    "expired": LedgerEntry.objects.filter(kind="expire").count(),
    "overdue_lots": PointsLot.objects.filter(remaining__gt=0, expires_at__lte=anchor).count(),
    "joined_bonuses": LedgerEntry.objects.filter(member=showcase, idempotency_key__startswith="event:joined:").count(),
    "consent_sources": sorted(set(ConsentEvent.objects.values_list("source", flat=True))),
    "admin_is_superuser": bool(admin_user and admin_user.is_superuser),
    "showcase_tier_rank": standing.tier.rank if standing.tier else -1,
    "showcase_pending": standing.pending,
    "showcase_expiring": points_expiring(member=showcase, days=30),
    "showcase_purchases": Purchase.objects.filter(member=showcase).count(),
    "tiers": dict(PointsAccount.objects.values_list("tier__code").annotate(n=Count("id"))),
}, default=str))
"""


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(ROOT),
        DEBUG="1",
        DJANGO_SETTINGS_MODULE="loyalty_site.settings",
        DATABASE_URL=f"sqlite:///{tmp}/demo.sqlite3",
        CELERY_BROKER_URL="filesystem://",
        CELERY_BROKER_FOLDER=str(tmp / "broker"),
        CELERY_TASK_ALWAYS_EAGER="0",
        PYTHONUNBUFFERED="1",
        DEMO_TMP=str(tmp),
    )
    return env


def _manage(env: dict[str, str], *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    # Run from the temporary folder: the filesystem transport keeps its exchange tables in ./control.
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        cwd=env["DEMO_TMP"],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _result(completed: subprocess.CompletedProcess) -> dict:
    assert completed.returncode == 0, completed.stderr
    line = next(line for line in completed.stdout.splitlines() if line.startswith("RESULT:"))
    return json.loads(line.removeprefix("RESULT:"))


@pytest.fixture(scope="module")
def demo_env(tmp_path_factory):
    """A SQLite database migrated and seeded by the commands demo.sh runs; the start of the day it was seeded."""
    tmp = tmp_path_factory.mktemp("demo")
    env = _env(tmp)
    migrated = _manage(env, "migrate", "--noinput", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    anchor = datetime.now(ZoneInfo("Europe/Warsaw")).replace(hour=0, minute=0, second=0, microsecond=0)
    seeded = _manage(env, "demo_seed", "--members", str(MEMBERS), "--purchases", str(PURCHASES))
    assert seeded.returncode == 0, seeded.stdout + seeded.stderr
    return env, anchor, seeded.stdout


def test_demo_seed_loads_a_consistent_programme_with_both_logins(demo_env):
    env, anchor, output = demo_env
    assert "admin / admin-demo-2026" in output
    assert "member / member-demo-2026" in output

    result = _result(_manage(env, "shell", "-v", "0", "-c", f"ANCHOR = {anchor.isoformat()!r}\n" + CHECK))

    assert result["mismatches"] == []
    # Migrations that copy the ledger table on SQLite put its append-only triggers back.
    assert result["ledger_refused"] == [True, True]
    # The hand-written tier sum gives SQLite's float sum back exactly, in cents.
    spend, spend_exact = result["spend"]
    assert spend == spend_exact
    assert result["members"] == result["accounts"] == result["cards"] == MEMBERS
    assert result["purchases"] == PURCHASES
    assert result["refunds"] > 0
    assert result["redemptions"] > 0
    assert result["expired"] > 0
    assert result["overdue_lots"] == 0  # everything due by the seeding day has expired
    assert result["joined_bonuses"] == 1  # the bulk sign-up bonus is the one event_award knows
    assert {"signup", "import"} <= set(result["consent_sources"])
    assert result["admin_is_superuser"]
    assert result["showcase_tier_rank"] >= 1
    assert result["showcase_pending"] > 0
    assert result["showcase_expiring"] > 0
    assert result["showcase_purchases"] >= 20
    assert set(result["tiers"]) == {"bronze", "silver", "gold"}


def test_demo_seed_refuses_a_database_that_has_members(demo_env):
    env, _anchor, _output = demo_env
    count = "from members.models import Purchase; print('RESULT:' + str(Purchase.objects.count()))"

    again = _manage(env, "demo_seed", "--members", "10", "--purchases", "10")

    assert again.returncode != 0
    assert "already has data" in again.stderr
    assert _result(_manage(env, "shell", "-v", "0", "-c", count)) == PURCHASES


def test_celery_worker_runs_a_task_sent_through_the_filesystem_broker(demo_env, tmp_path):
    env, _anchor, _output = demo_env
    log_path = tmp_path / "worker.log"
    with log_path.open("w") as log:
        worker = subprocess.Popen(
            # As scripts/demo.sh starts it: the default queue and the queue of staff file work (imports, exports).
            [
                *(sys.executable, "-m", "celery", "-A", "loyalty_site", "worker", "--loglevel=info"),
                *("--concurrency=1", "-Q", "celery,files"),
            ],
            cwd=env["DEMO_TMP"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        # A task of the default queue, and one the settings route to the queue "files" (for an import that does
        # not exist: it does nothing, but only a worker consuming that queue runs it).
        send = (
            "from rewards.tasks import points_expire_task; points_expire_task.delay(); "
            "from loyalty_site.files.tasks import import_preview_task; import_preview_task.delay(0)"
        )
        sent = _manage(env, "shell", "-v", "0", "-c", send)
        assert sent.returncode == 0, sent.stderr
        succeeded = [
            re.compile(r"rewards\.tasks\.points_expire_task\[[0-9a-f-]+\] succeeded"),
            re.compile(r"loyalty_site\.files\.tasks\.import_preview_task\[[0-9a-f-]+\] succeeded"),
        ]
        deadline = time.monotonic() + 60
        while not all(p.search(log_path.read_text()) for p in succeeded) and time.monotonic() < deadline:
            assert worker.poll() is None, log_path.read_text()
            time.sleep(0.5)
        assert all(p.search(log_path.read_text()) for p in succeeded), log_path.read_text()
        assert not any((Path(env["CELERY_BROKER_FOLDER"]) / "queue").iterdir())
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


# --- The shape of the data, on the planner alone ---------------------------------------------------------


def _plan(seed: int, members: int = 3000, purchases: int = 30000):
    tz = ZoneInfo("Europe/Warsaw")
    end = datetime(2026, 11, 23, tzinfo=tz)
    start = datetime(2025, 5, 23, tzinfo=tz)
    people = list(PeoplePlanner(seed=seed, count=members, start=start, end=end, tz=tz))
    buyers = [
        Buyer(n, p.weight, p.active_from, p.active_until, p.home_store, p.online_share) for n, p in enumerate(people)
    ]
    planner = PurchasePlanner(seed=seed, first_day=start.date(), last_day=end.date() - timedelta(days=1), tz=tz)
    return people, list(planner.stream(buyers, purchases)), end


def test_planner_is_deterministic_for_a_seed():
    first_people, first_purchases, _end = _plan(7, members=300, purchases=3000)
    again_people, again_purchases, _end = _plan(7, members=300, purchases=3000)
    other_people, _other, _end = _plan(8, members=300, purchases=3000)

    assert first_people == again_people
    assert first_purchases == again_purchases
    assert [p.email for p in first_people] != [p.email for p in other_people]


def test_planner_makes_polish_members_with_unique_contacts():
    people, _purchases, _end = _plan(42)
    emails = [p.email for p in people if p.email]
    phones = [p.phone for p in people if p.phone]

    assert len(set(emails)) == len(emails)
    assert len(set(phones)) == len(phones)
    assert all(re.fullmatch(r"[a-z0-9._]+@[a-z0-9.]+", email) for email in emails)  # ł -> l, ż -> z ...
    assert all(re.fullmatch(r"\+48[5-8]\d{8}", phone) for phone in phones)
    assert len({p.member_number for p in people}) == len({p.referral_code for p in people}) == len(people)
    women = [p for p in people if p.gender == "f"]
    assert not any(p.last_name.endswith(("ski", "cki")) for p in women)
    assert any(p.last_name.endswith("ska") for p in women)
    assert all(re.fullmatch(r"\d\d-\d\d\d", p.postal_code) for p in people if p.postal_code)
    email_marketing = sum(any(c[:3] == ("email", "marketing", True) for c in p.consents) for p in people if p.email)
    sms_marketing = sum(any(c[:3] == ("sms", "marketing", True) for c in p.consents) for p in people if p.phone)
    assert 0.6 < email_marketing / len(emails) < 0.85
    assert 0.3 < sms_marketing / len(phones) < 0.6


def test_planner_has_seasons_repeat_buyers_and_lapsed_ones():
    _people, purchases, end = _plan(42)
    per_day = Counter(p.purchased_at.date() for p in purchases)
    per_member = Counter(p.member_id for p in purchases)
    last = {p.member_id: p.purchased_at for p in purchases}

    def daily(first: date, last_day: date) -> float:
        days = (last_day - first).days + 1
        return sum(per_day[first + timedelta(days=n)] for n in range(days)) / days

    december = daily(date(2025, 12, 1), date(2025, 12, 23))
    autumn = daily(date(2025, 10, 1), date(2025, 11, 15))
    black_friday_week = daily(date(2025, 11, 24), date(2025, 12, 1))
    assert december > 1.4 * autumn
    assert black_friday_week > 2 * autumn
    assert daily(date(2026, 7, 1), date(2026, 8, 31)) < daily(date(2026, 9, 1), date(2026, 10, 31))

    counts = sorted(per_member.values(), reverse=True)
    assert counts[0] >= 52  # someone buys about weekly
    assert sum(counts[: len(counts) // 5]) > 0.5 * len(purchases)  # Pareto-ish
    lapsed = sum(at < end - timedelta(days=183) for at in last.values()) / len(last)
    assert 0.2 < lapsed < 0.4
    assert 0.01 < sum(p.refund is not None for p in purchases) / len(purchases) < 0.03
    with_lines = [p for p in purchases if p.lines]
    assert 0.3 < len(with_lines) / len(purchases) < 0.5
    assert all(sum(line.amount for line in p.lines) == p.amount for p in with_lines)
    assert all(20 <= p.amount <= 800 and p.amount.as_tuple().exponent == -2 for p in purchases)
    assert {p.store for p in purchases} == {"online"} | {f"store-{n:02d}" for n in range(1, 13)}
