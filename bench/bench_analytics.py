"""Bench: the analytics recompute (dashboard + RFM/CLV scores) on 100,000 members and 1,000,000 purchases.

    DATABASE_URL=postgres://loyalty@127.0.0.1:55432/loyalty_bench .venv/bin/python bench/bench_analytics.py

Members, purchases and a ledger (an earning per purchase, redemptions, expiries) are written with COPY and
SQL, not through the services: analytics only reads the tables. Then, `--runs` times, the full recompute the
nightly task does (`analytics.services.analytics_refresh`: read the purchases once, score every member, fit
BG/NBD and Gamma-Gamma, compute the dashboard for the last 30 days and the 30 before, store both), each run
with its wall time, the CPU of this process and of its PostgreSQL backend, and the peak memory of the
process; then the dashboard page served from the snapshot (admin, test client); then, on a 10,000-member
subset, the naive way (an ORM query per member, RFM in Python) beside the vectorised one.
"""

import argparse
import io
import os
import random
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _setup


def copy_rows(table: str, columns: list[str], lines) -> None:
    from django.db import connection

    buffer = io.StringIO()
    for line in lines:
        buffer.write(line)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)") as copy,
    ):
        copy.write(buffer.getvalue())


def build(members: int, purchases: int, seed: int) -> None:
    """Members joined over two years; purchases after each member's join, heavy buyers more often; 3% of the
    purchases refunded (a third of those in full); a ledger entry per purchase and some redemptions."""
    from django.db import connection
    from django.utils import timezone

    rng = random.Random(seed)
    now = timezone.now()
    horizon = 730
    joined = [rng.random() * horizon for _ in range(members)]
    copy_rows(
        "members_member",
        [
            "member_number",
            "first_name",
            "last_name",
            "email",
            "phone",
            "city",
            "postal_code",
            "preferred_language",
            "preferred_channel",
            "joined_at",
            "join_source",
            "status",
            "referral_code",
            "gender",
        ],
        (
            f'9{n:09d},Anna,Nowak{n % 97},c{n}@example.pl,"","","",pl,email,'
            f'{(now - timedelta(days=joined[n])).isoformat()},store,active,B{n:08d},""\n'
            for n in range(members)
        ),
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM members_member ORDER BY id")
        ids = [row[0] for row in cursor.fetchall()]
    # Purchase propensity: a long tail (a few members buy very often).
    weights = [rng.paretovariate(1.5) for _ in ids]
    chosen = rng.choices(range(len(ids)), weights=weights, k=purchases)
    stores = ["online", "WAW01", "KRK02", "GDN03", "POZ04"]

    def purchase_lines():
        for n, index in enumerate(chosen):
            age = joined[index]
            at = now - timedelta(days=rng.random() * age)
            cents = rng.randint(500, 60000)
            refunded = 0
            if rng.random() < 0.03:
                refunded = cents if rng.random() < 0.33 else cents // 2
            yield (
                f"{ids[index]},pos,B{n:09d},{stores[n % 5]},{at.isoformat()},{cents / 100:.2f},{refunded / 100:.2f},"
                f"{at.isoformat()}\n"
            )

    copy_rows(
        "members_purchase",
        ["member_id", "source", "external_id", "store", "purchased_at", "amount", "refunded_amount", "created_at"],
        purchase_lines(),
    )
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO rewards_ledgerentry (member_id, kind, bucket, points, reason, reference, rules,
                                             idempotency_key, created_at, purchase_id)
            SELECT member_id, 'earn', 'available', GREATEST(1, floor(amount)::int), 'bench', '', '[]',
                   'purchase:pos:' || external_id, purchased_at, id
            FROM members_purchase
            """
        )
        cursor.execute(
            """
            INSERT INTO rewards_ledgerentry (member_id, kind, bucket, points, reason, reference, rules,
                                             idempotency_key, created_at)
            SELECT member_id, CASE WHEN n % 4 = 0 THEN 'expire' ELSE 'redeem' END, 'available', -50, 'bench', '',
                   '[]', 'bench-burn-' || n, created_at + interval '20 days'
            FROM (SELECT member_id, created_at, row_number() OVER () AS n FROM rewards_ledgerentry
                  WHERE kind = 'earn' AND points >= 100) AS e
            WHERE n % 5 = 0 AND created_at + interval '20 days' < now()
            """
        )
        cursor.execute(
            """
            INSERT INTO rewards_pointsaccount (member_id, balance, pending, updated_at, tier_id)
            SELECT m.id, GREATEST(0, COALESCE(SUM(e.points), 0)), 0, now(),
                   (SELECT id FROM rewards_tier ORDER BY rank LIMIT 1)
            FROM members_member AS m LEFT JOIN rewards_ledgerentry AS e ON e.member_id = m.id
            GROUP BY m.id
            """
        )
        for table in ("members_member", "members_purchase", "rewards_ledgerentry", "rewards_pointsaccount"):
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("SELECT count(*) FROM members_purchase")
        count = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM rewards_ledgerentry")
        entries = cursor.fetchone()[0]
    print(f"Data: {len(ids):,} members, {count:,} purchases, {entries:,} ledger entries")


def backend_cpu(pid: int) -> float:
    """User + system CPU seconds of a PostgreSQL backend on this machine (0 when /proc cannot tell)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def naive_scores(member_ids, as_of):
    """What one would write first: a query per member, then recency, frequency and monetary in Python."""
    from decimal import Decimal

    from django.utils import timezone

    from members.models import Member

    result = {}
    for member in Member.objects.filter(pk__in=member_ids).order_by("pk"):
        dates, total, orders = [], Decimal("0"), 0
        for purchase in member.purchases.all():
            net = purchase.amount - purchase.refunded_amount
            if net > 0 and timezone.localtime(purchase.purchased_at).date() <= as_of:
                dates.append(timezone.localtime(purchase.purchased_at).date())
                total += net
                orders += 1
        if dates:
            result[member.pk] = ((as_of - max(dates)).days, orders, total)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--purchases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--page-runs", type=int, default=20)
    parser.add_argument("--subset", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--reuse", action="store_true", help="measure the data a previous run left (no set-up)")
    args = parser.parse_args()

    url = _setup.bootstrap()
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client, override_settings
    from django.urls import reverse

    from analytics import frames, rfm
    from analytics.frames import day_number
    from analytics.services import analytics_refresh, default_period

    if not args.reuse:
        _setup.reset_database(url)
    _setup.print_machine_info()
    with connection.cursor() as cursor:
        for name in ("fsync", "synchronous_commit", "shared_buffers", "work_mem"):
            cursor.execute(f"SHOW {name}")
            print(f"  {name:32} {cursor.fetchone()[0]}")
    if not args.reuse:
        _setup.create_programme()
        start = time.perf_counter()
        build(args.members, args.purchases, args.seed)
        print(f"Set-up in {time.perf_counter() - start:.1f} s")
    rss_before = _setup.peak_rss_mb()

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    timings, cpu, server_cpu = [], [], []
    for run in range(args.runs):
        start, start_cpu, start_server = time.perf_counter(), time.process_time(), backend_cpu(backend)
        snapshot = analytics_refresh()
        timings.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        server_cpu.append(backend_cpu(backend) - start_server)
        print(
            f"  recompute {run + 1}: {timings[-1]:.2f} s wall, CPU {cpu[-1]:.2f} s here + {server_cpu[-1]:.2f} s in"
            f" the PostgreSQL backend (dashboard part {snapshot.duration_ms / 1000:.2f} s wall)"
        )
    peak = _setup.peak_rss_mb()

    # The page as staff open it: the admin's dashboard from the stored snapshot.
    user = get_user_model().objects.filter(username="bench").first() or get_user_model().objects.create_superuser(
        username="bench", password=None, email="b@x.pl"
    )
    url_dashboard = reverse("admin:analytics_dashboardsnapshot_changelist")
    page_times = []
    plain_http = {"ALLOWED_HOSTS": ["testserver"], "SECURE_SSL_REDIRECT": False, "SESSION_COOKIE_SECURE": False}
    with override_settings(**plain_http):
        client = Client()
        client.force_login(user)
        for _ in range(args.page_runs + 1):
            start = time.perf_counter()
            response = client.get(url_dashboard)
            page_times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200 and b"analytics-chart-data" in response.content
    page_times = sorted(page_times[1:])  # the first request warms the templates

    # Naive against vectorised on a subset of members.
    as_of = default_period().end
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM members_member ORDER BY id LIMIT %s", [args.subset])
        subset = [row[0] for row in cursor.fetchall()]
    start = time.perf_counter()
    naive = naive_scores(subset, as_of)
    naive_time = time.perf_counter() - start
    start = time.perf_counter()
    summary = rfm.member_summary(frames.purchase_days(until=as_of, member_ids=subset), day_number(as_of))
    scores = rfm.rfm_scores(summary)
    fast_time = time.perf_counter() - start
    same = all(
        (int(summary.loc[m, "recency_days"]), int(summary.loc[m, "orders"])) == (naive[m][0], naive[m][1])
        and int(summary.loc[m, "net_cents"]) == int(naive[m][2] * 100)
        for m in naive
    ) and len(naive) == len(summary)

    print("\nFull recompute (member scores + dashboard, analytics_refresh):")
    print(f"  runs    {len(timings)}")
    print(f"  median  {statistics.median(timings):.2f} s")
    print(f"  max     {max(timings):.2f} s")
    print(
        f"  CPU median: {statistics.median(cpu):.2f} s in this process + {statistics.median(server_cpu):.2f} s in the"
        " PostgreSQL backend (readable when the server runs on this machine; wall minus both: waiting for a core)"
    )
    print(f"  peak RSS of this process: {peak:.0f} MB (after the set-up: {rss_before:.0f} MB)")
    print(f"Dashboard page from the snapshot ({len(page_times)} requests):")
    print(f"  median  {statistics.median(page_times):.0f} ms, max {max(page_times):.0f} ms")
    print(f"Subset of {len(subset):,} members, RFM inputs:")
    print(f"  naive ORM loop per member  {naive_time:.2f} s")
    print(f"  COPY + pandas              {fast_time:.2f} s ({len(scores):,} members scored)")
    print(f"  same recency, frequency, monetary: {same}")
    print(f"  load average after the runs: {_setup.load_average()}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
