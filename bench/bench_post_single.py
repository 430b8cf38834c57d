"""Bench: one purchase at a time through purchase_post, as a till or the API posts them; p50/p95/p99 latency.

    DATABASE_URL=postgres://loyalty@127.0.0.1:55432/loyalty_bench .venv/bin/python bench/bench_post_single.py

Each purchase is its own transaction, for a member looked up by number first (as the API does), with the
same programme, tiers and rules as the batch bench. The database already holds a history (a batch of
earlier purchases), so the indexes are not empty.
"""

import argparse
import random
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _setup


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purchases", type=int, default=2000, help="purchases posted one by one and timed")
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--history", type=int, default=100_000, help="purchases loaded by a batch beforehand")
    parser.add_argument("--warmup", type=int, default=50, help="posts before timing starts (connection, caches)")
    args = parser.parse_args()

    url = _setup.bootstrap()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from members.models import Member
    from rewards.batch import purchases_post_batch
    from rewards.selectors import ledger_mismatches
    from rewards.services import purchase_post

    _setup.reset_database(url)
    _setup.print_machine_info()
    _setup.create_programme()
    member_ids = _setup.create_members(args.members)
    now = timezone.now()
    if args.history:
        purchases_post_batch(_setup.purchase_rows(member_ids, args.history, now=now, prefix="H"), now=now)
    _setup.analyze()
    numbers = dict(Member.objects.values_list("pk", "member_number"))
    print(f"History: {args.history:,} purchases over {args.members:,} members; timing {args.purchases:,} posts")

    rng = random.Random(42)
    rows = _setup.purchase_rows(member_ids, args.warmup + args.purchases, now=now, seed=99, prefix="S")
    timings = []
    for n, row in enumerate(rows):
        # Purchases happen now, in time order: the till posts them as they are paid.
        at = timezone.now() - timedelta(seconds=rng.randint(0, 5))
        start = time.perf_counter()
        member = Member.objects.get(member_number=numbers[row.member_id])
        purchase_post(
            member=member,
            source="till",
            external_id=row.external_id,
            amount=row.amount,
            purchased_at=at,
            store=row.store,
            lines=row.lines,
        )
        elapsed = time.perf_counter() - start
        if n >= args.warmup:
            timings.append(elapsed * 1000)

    with CaptureQueriesContext(connection) as captured:
        purchase_post(
            member=Member.objects.get(pk=member_ids[0]),
            source="till",
            external_id="COUNT-1",
            amount=Decimal("123.45"),
            purchased_at=timezone.now(),
        )

    mismatches = ledger_mismatches()
    timings.sort()
    print("\npurchase_post latency (ms), member lookup included:")
    print(f"  posts  {len(timings):,}")
    print(f"  mean   {statistics.fmean(timings):6.2f}")
    for label, q in (("p50", 0.50), ("p95", 0.95), ("p99", 0.99)):
        print(f"  {label}    {percentile(timings, q):6.2f}")
    print(f"  max    {timings[-1]:6.2f}")
    print(f"  queries per post (member lookup included): {len(captured)}")
    print(f"  load average after the run: {_setup.load_average()}")
    if mismatches:
        print(f"\nFAILED: {len(mismatches)} accounts differ from the ledger")
        return 1
    print("\nLedger == balances after the run.")
    return 0


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    index = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


if __name__ == "__main__":
    raise SystemExit(main())
