"""Bench: the nightly ledger check (rewards.reconciliation.ledger_check_run) over a million ledger entries.

    DATABASE_URL=postgres://loyalty@127.0.0.1:55432/loyalty_bench .venv/bin/python bench/bench_reconcile.py

The ledger is written with SQL (generate_series), not through the services: the check reads the tables and
does not care how the rows came, and a million entries this way take a minute instead of ten. Each member
gets `--entries-per-member` entries (earnings, one pending earning, one redemption), a lot per available
earning with the redemption taken from the oldest, and an account equal to both. The check then runs
`--runs` times (median and max), and once more after three balances were set by hand, which it must find.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _setup


def build_ledger(per_member: int) -> None:
    """Entries g = 0 .. per_member-1 per member: g < per_member-2 earn 10..16 available points, the next one
    earns 12 pending points, the last redeems 5 (taken from the first lot)."""
    from django.db import connection

    last, pending_at = per_member - 1, per_member - 2
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO rewards_ledgerentry
                (member_id, kind, bucket, points, reason, reference, rules, idempotency_key, created_at, available_at)
            SELECT m.id,
                   CASE WHEN g = %(last)s THEN 'redeem' ELSE 'earn' END,
                   CASE WHEN g = %(pending)s THEN 'pending' ELSE 'available' END,
                   CASE WHEN g = %(last)s THEN -5 WHEN g = %(pending)s THEN 12 ELSE 10 + g %% 7 END,
                   'bench', '', '[]', 'bench-' || m.id || '-' || g,
                   now() - (%(last)s - g) * interval '1 day',
                   CASE WHEN g = %(pending)s THEN now() + interval '7 days' END
            FROM members_member AS m CROSS JOIN generate_series(0, %(last)s) AS g
            """,
            {"last": last, "pending": pending_at},
        )
        cursor.execute(
            """
            INSERT INTO rewards_pointslot (member_id, entry_id, points, remaining, earned_at, expires_at)
            SELECT e.member_id, e.id, e.points,
                   e.points - CASE WHEN e.idempotency_key LIKE '%%-0' THEN 5 ELSE 0 END,
                   e.created_at, e.created_at + interval '12 months'
            FROM rewards_ledgerentry AS e
            WHERE e.kind = 'earn' AND e.bucket = 'available'
            """
        )
        cursor.execute(
            """
            INSERT INTO rewards_pointsaccount (member_id, balance, pending, updated_at)
            SELECT member_id,
                   SUM(points) FILTER (WHERE bucket = 'available'),
                   COALESCE(SUM(points) FILTER (WHERE bucket = 'pending'), 0),
                   now()
            FROM rewards_ledgerentry GROUP BY member_id
            """
        )
        cursor.execute("VACUUM ANALYZE rewards_ledgerentry")
        cursor.execute("VACUUM ANALYZE rewards_pointslot")
        cursor.execute("VACUUM ANALYZE rewards_pointsaccount")
        cursor.execute("SELECT count(*) FROM rewards_ledgerentry")
        entries = cursor.fetchone()[0]
        cursor.execute("SELECT pg_size_pretty(pg_total_relation_size('rewards_ledgerentry'))")
        size = cursor.fetchone()[0]
    print(f"Ledger: {entries:,} entries ({size} with indexes)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--entries-per-member", type=int, default=10)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if args.entries_per_member < 3:
        parser.error("--entries-per-member must be at least 3")

    url = _setup.bootstrap()
    from django.db import connection

    from rewards.reconciliation import ledger_check_run

    _setup.reset_database(url)
    _setup.print_machine_info()
    with connection.cursor() as cursor:
        for name in ("fsync", "synchronous_commit", "shared_buffers", "work_mem", "max_parallel_workers_per_gather"):
            cursor.execute(f"SHOW {name}")
            print(f"  {name:32} {cursor.fetchone()[0]}")

    start = time.perf_counter()
    member_ids = _setup.create_members(args.members)
    build_ledger(args.entries_per_member)
    print(f"Set-up: {len(member_ids):,} members in {time.perf_counter() - start:.1f} s")
    rss_before = _setup.peak_rss_mb()

    timings = []
    for run in range(args.runs):
        start = time.perf_counter()
        check = ledger_check_run()
        timings.append(time.perf_counter() - start)
        print(
            f"  run {run + 1}: {timings[-1]:.2f} s, {check.accounts_checked:,} accounts, {check.mismatch_count} differ"
        )
        if check.mismatch_count:
            print("FAILED: the generated ledger should be clean")
            return 1

    tampered = member_ids[:: max(1, len(member_ids) // 3)][:3]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE rewards_pointsaccount SET balance = balance + 100 WHERE member_id = ANY(%s)", [tampered])
    start = time.perf_counter()
    check = ledger_check_run()
    tampered_time = time.perf_counter() - start
    found = sorted(row["member_id"] for row in check.mismatches)

    print("\nledger_check_run over the whole ledger:")
    print(f"  runs    {len(timings)}")
    print(f"  median  {statistics.median(timings):.2f} s")
    print(f"  max     {max(timings):.2f} s")
    print(f"  first   {timings[0]:.2f} s")
    print(f"  with 3 balances set by hand: {tampered_time:.2f} s, found {found}")
    print(f"  peak RSS of this process: {_setup.peak_rss_mb():.0f} MB (after the set-up: {rss_before:.0f} MB)")
    print(f"  load average after the runs: {_setup.load_average()}")
    if found != sorted(tampered):
        print(f"FAILED: expected {sorted(tampered)}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
