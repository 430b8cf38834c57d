"""Bench: rewards redeemed through rewards.redemption.reward_redeem by concurrent workers; redemptions/s and
p50/p95/p99 latency of one redemption.

    DATABASE_URL=postgres://loyalty@127.0.0.1:55432/loyalty_bench .venv/bin/python bench/bench_redemption.py

Each worker is a thread with its own database connection, redeeming for random members (each with enough
points) one of the catalog's rewards: most with a large stock (the conditional UPDATE of the stock is part of
every redemption), some unlimited. A run with one worker gives the latency of a redemption on its own; the run
with `--workers` shows throughput and latency under contention. Afterwards it checks that the ledger equals
the balances, that the stock fell by exactly the number of vouchers, and that no balance is negative.
"""

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _setup


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=5000)
    parser.add_argument("--rewards", type=int, default=20)
    parser.add_argument("--single", type=int, default=1000, help="redemptions timed with one worker")
    parser.add_argument("--concurrent", type=int, default=4000, help="redemptions timed with --workers")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()

    url = _setup.bootstrap()
    import random

    from django.db import connection, connections
    from django.test.utils import CaptureQueriesContext

    from members.models import Member
    from rewards.models import PointsAccount, Reward, Voucher
    from rewards.redemption import RedemptionRefused, reward_redeem
    from rewards.selectors import ledger_mismatches
    from rewards.services import points_earn

    _setup.reset_database(url)
    _setup.print_machine_info()
    with connection.cursor() as cursor:
        cursor.execute("SHOW fsync")
        fsync = cursor.fetchone()[0]
        cursor.execute("SHOW synchronous_commit")
        sync = cursor.fetchone()[0]
    print(f"  fsync {fsync}, synchronous_commit {sync}")
    _setup.create_programme()
    member_ids = _setup.create_members(args.members)
    for member_id in member_ids:
        # Several lots per member, so the FIFO spend walks more than one.
        for n in range(3):
            points_earn(
                member=Member(pk=member_id), points=20_000, reason="bench", idempotency_key=f"b:{member_id}:{n}"
            )
    rewards = []
    for n in range(args.rewards):
        rewards.append(
            Reward.objects.create(
                code=f"r{n}",
                name=f"Reward {n}",
                kind="voucher",
                points_cost=100 + 10 * n,
                stock=None if n % 4 == 0 else 1_000_000,
                per_member_limit=None if n % 2 else 1000,
            )
        )
    _setup.analyze()
    stock_before = {reward.pk: reward.stock for reward in rewards}
    print(f"{args.members:,} members with 60,000 points each, {args.rewards} rewards")

    def run(count: int, workers: int, seed: int) -> tuple[list[float], float, int]:
        timings: list[float] = []
        cpu: list[float] = []
        refused = [0]
        lock = threading.Lock()
        barrier = threading.Barrier(workers)

        def work(worker: int):
            rng = random.Random(seed * 1000 + worker)
            mine = []
            mine_cpu = []
            barrier.wait()
            try:
                for _ in range(count // workers):
                    member = Member(pk=rng.choice(member_ids))
                    reward = rng.choice(rewards)
                    start = time.perf_counter()
                    start_cpu = time.thread_time()
                    try:
                        reward_redeem(member=member, reward=reward)
                    except RedemptionRefused:
                        with lock:
                            refused[0] += 1
                    mine.append((time.perf_counter() - start) * 1000)
                    mine_cpu.append((time.thread_time() - start_cpu) * 1000)
            finally:
                connections.close_all()
            with lock:
                timings.extend(mine)
                cpu.extend(mine_cpu)

        threads = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return sorted(timings), time.perf_counter() - started, refused[0], statistics.fmean(cpu) if cpu else 0.0

    run(args.warmup, 1, seed=1)
    results = {}
    for label, count, workers in (
        ("1 worker", args.single, 1),
        (f"{args.workers} workers", args.concurrent, args.workers),
    ):
        results[label] = run(count, workers, seed=len(results) + 2)

    with CaptureQueriesContext(connection) as captured:
        reward_redeem(member=Member(pk=member_ids[0]), reward=rewards[1])

    print("\nreward_redeem latency (ms) and throughput:")
    for label, (timings, wall, refused, cpu_mean) in results.items():
        print(
            f"  {label:10}  {len(timings):5,} redemptions in {wall:6.2f} s = {len(timings) / wall:7.1f}/s   "
            f"mean {statistics.fmean(timings):6.2f}  p50 {percentile(timings, 0.5):6.2f}  "
            f"p95 {percentile(timings, 0.95):6.2f}  p99 {percentile(timings, 0.99):6.2f}  max {timings[-1]:7.2f}"
            f"  refused {refused}  Python CPU mean {cpu_mean:5.2f}"
        )
    print(f"  queries per redemption: {len(captured)}")
    print(f"  load average after the run: {_setup.load_average()}")

    problems = []
    if mismatches := ledger_mismatches():
        problems.append(f"{len(mismatches)} accounts differ from the ledger")
    if PointsAccount.objects.filter(balance__lt=0).exists():
        problems.append("a negative balance")
    for reward in Reward.objects.all():
        if stock_before[reward.pk] is not None:
            issued = Voucher.objects.filter(reward=reward).count()
            if reward.stock != stock_before[reward.pk] - issued:
                problems.append(f"stock of {reward.code} is {reward.stock}, vouchers {issued}")
    if problems:
        print("\nFAILED: " + "; ".join(problems))
        return 1
    print("\nLedger == balances, stock == vouchers, no negative balance after the run.")
    return 0


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    index = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


if __name__ == "__main__":
    raise SystemExit(main())
