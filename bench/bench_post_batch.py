"""Bench: points for 100,000 purchases in one batch job, beside a plain bulk_create of the same purchases.

    DATABASE_URL=postgres://loyalty@127.0.0.1:55432/loyalty_bench .venv/bin/python bench/bench_post_batch.py

The database is dropped and created again for each measurement. The target is judged on the last line,
"JUDGED": the batch (two processes) against the mean of a purchases-only bulk_create floor run before and one
run after it, each on a fresh database. CPU seconds (Python and the database's backends) are printed beside
the wall times: on a shared machine they are the steadier figure. After the batch the bench checks that the
ledger sums equal the balances, that every purchase with points has exactly one earn entry, that a sample
of members posted one by one through purchase_post ends up with the same points, and that running the
batch again creates nothing.
"""

import argparse
import cProfile
import pstats
import sys
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _setup
from _cpu import CpuMeter


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purchases", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2, help="processes posting the batch, members split")
    parser.add_argument("--verify-members", type=int, default=200, help="members re-posted one by one to compare")
    parser.add_argument("--profile", action="store_true", help="print the top of a cProfile of the batch run")
    parser.add_argument("--skip-floor", action="store_true")
    parser.add_argument(
        "--receiver",
        action="store_true",
        help="subscribe one trivial in-transaction receiver to PurchasePosted and TierChanged (the cost of hooks)",
    )
    args = parser.parse_args()

    url = _setup.bootstrap()
    if args.receiver:
        subscribe_trivial_receiver()
    from django.utils import timezone

    now = timezone.now()
    results: dict[str, float] = {}
    cpu: dict[str, CpuMeter] = {}
    database = urlsplit(url).path.lstrip("/")
    _setup.reset_database(url)
    _setup.print_machine_info()
    print(
        f"Purchases: {args.purchases:,} over {args.members:,} members, "
        f"chunks of {args.chunk_size:,}, {args.workers} worker(s)"
    )

    floors = []
    if not args.skip_floor:
        member_ids = prepare(args.members)
        rows = _setup.purchase_rows(member_ids, args.purchases, now=now)
        floors.append(floor(rows, args.chunk_size, results, cpu, database, label="before", lines=True))
        _setup.reset_database(url)

    member_ids = prepare(args.members)
    rows = _setup.purchase_rows(member_ids, args.purchases, now=now)
    batch_label = "purchases_post_batch (rules, ledger, lots, balances, tiers)"
    cpu[batch_label] = CpuMeter(database)
    with cpu[batch_label].measure():
        batch_result = post_batch(
            rows, now=now, chunk_size=args.chunk_size, workers=args.workers, results=results, profile=args.profile
        )
    failures = check(rows, batch_result, now=now, chunk_size=args.chunk_size, results=results)
    failures += compare_with_single_posts(rows, member_ids, now=now, count=args.verify_members)

    if not args.skip_floor:
        # The floor again after the batch, on a fresh database as before it: the machine's speed drifts, so the
        # batch is judged against the mean of the two floors around it, not against one taken minutes earlier.
        _setup.reset_database(url)
        member_ids = prepare(args.members)
        floors.append(floor(rows, args.chunk_size, results, cpu, database, label="after", lines=False))

    print(f"\nLoad average after the runs: {_setup.load_average()}")
    print("Results (purchases per second):")
    n = len(rows)
    for label, seconds in results.items():
        print(f"  {label:58} {seconds:8.2f} s  {n / seconds:10,.0f} /s")
    print("CPU (this process and its workers, and the PostgreSQL backends of the bench database):")
    for label, meter in cpu.items():
        print(f"  {label:58} {meter.line(n)}")
    if floors:
        batch_rate = n / results[batch_label]
        floor_rate = n / (sum(floors) / len(floors))
        print(
            f"\nJUDGED: purchases_post_batch {batch_rate:,.0f}/s against the purchases-only bulk_create floor "
            f"{floor_rate:,.0f}/s (mean of the runs before and after): batch / floor = {batch_rate / floor_rate:.2f}x "
            "(target >= 1.00x)"
        )
    if failures:
        print("\nFAILED CHECKS:")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print("\nAll checks passed: ledger == balances, one earn entry per purchase with points, rerun creates 0.")
    return 0


def subscribe_trivial_receiver() -> None:
    """A receiver that does nothing with what it gets: what is left is the cost of building and announcing."""
    from loyalty_site.hooks import receiver
    from rewards.events import PurchasePosted, TierChanged

    def trivial(events) -> None:
        len(events)

    for event_type in (PurchasePosted, TierChanged):
        receiver(event_type)(trivial)
    print("One trivial in-transaction receiver of PurchasePosted and TierChanged")


def prepare(member_count: int) -> list[int]:
    _setup.create_programme()
    member_ids = _setup.create_members(member_count)
    _setup.analyze()
    return member_ids


def floor(rows, chunk_size: int, results: dict, cpu: dict, database: str, *, label: str, lines: bool) -> float:
    """The same purchases (and their lines) with plain bulk_create: no points, no rules, no locks. Returns the
    seconds of the purchases-only floor."""
    from django.db import transaction

    from members.models import Purchase, PurchaseLine

    def purchases(chunk):
        return [
            Purchase(
                member_id=row.member_id,
                source=row.source,
                external_id=row.external_id,
                amount=row.amount,
                purchased_at=row.purchased_at,
                store=row.store,
            )
            for row in chunk
        ]

    name = f"floor ({label}): bulk_create Purchase only"
    cpu[name] = CpuMeter(database)
    with cpu[name].measure(), _setup.timed(name, results):
        for i in range(0, len(rows), chunk_size):
            with transaction.atomic():
                Purchase.objects.bulk_create(purchases(rows[i : i + chunk_size]))
    if not lines:
        return results[name]
    with transaction.atomic():
        Purchase.objects.all().delete()
    with _setup.timed(f"floor ({label}): bulk_create Purchase + PurchaseLine", results):
        for i in range(0, len(rows), chunk_size):
            chunk = rows[i : i + chunk_size]
            with transaction.atomic():
                created = Purchase.objects.bulk_create(purchases(chunk))
                PurchaseLine.objects.bulk_create(
                    PurchaseLine(purchase_id=purchase.pk, sku=line.sku, category=line.category, amount=line.amount)
                    for purchase, row in zip(created, chunk, strict=True)
                    for line in row.lines
                )
    return results[name]


def post_batch(rows, *, now, chunk_size: int, workers: int, results: dict, profile: bool):
    from rewards.batch import purchases_post_batch

    profiler = cProfile.Profile() if profile else None
    with _setup.timed("purchases_post_batch (rules, ledger, lots, balances, tiers)", results):
        if profiler:
            profiler.enable()
        result = purchases_post_batch(rows, now=now, chunk_size=chunk_size, workers=workers)
        if profiler:
            profiler.disable()
    print(
        f"Batch: created {result.created:,}, skipped {result.skipped:,}, refused {result.refused:,}, "
        f"entries {result.entries:,}, points {result.points:,}, tier changes {result.tier_changes:,}"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
    return result


def check(rows, result, *, now, chunk_size: int, results: dict) -> list[str]:
    from django.db.models import Count, Sum

    from members.models import Purchase
    from rewards.batch import purchases_post_batch
    from rewards.models import LedgerEntry, PointsAccount, PointsLot
    from rewards.selectors import ledger_mismatches

    failures = []
    mismatches = ledger_mismatches()
    if mismatches:
        failures.append(f"{len(mismatches)} accounts differ from the ledger, e.g. {mismatches[:3]}")
    purchases = Purchase.objects.count()
    if purchases != len({(row.source, row.external_id) for row in rows}) or result.created != purchases:
        failures.append(f"{purchases} purchases recorded, {result.created} reported, {len(rows)} rows")
    earn = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EARN).aggregate(
        n=Count("id"), purchases=Count("purchase_id", distinct=True), points=Sum("points")
    )
    if not (earn["n"] == earn["purchases"] == result.entries) or earn["points"] != result.points:
        failures.append(f"earn entries {earn} against reported {result.entries} entries, {result.points} points")
    accounts = PointsAccount.objects.aggregate(balance=Sum("balance"), pending=Sum("pending"))
    if accounts["balance"] + accounts["pending"] != result.points:
        failures.append(f"balances {accounts} do not add up to the {result.points} points posted")
    lots = PointsLot.objects.aggregate(s=Sum("remaining"))["s"] or 0
    if lots != accounts["balance"]:
        failures.append(f"lots hold {lots} points, balances {accounts['balance']}")
    print(f"Check: {purchases:,} purchases, {earn['n']:,} earn entries, balances {accounts}, lots {lots:,}")

    from rewards.services import tiers_recalculate_all

    recalculated = tiers_recalculate_all(now=now)
    if recalculated:
        failures.append(f"recalculating every tier from scratch changed {recalculated} accounts")

    with _setup.timed("re-run of the same batch (all skipped)", results):
        again = purchases_post_batch(rows, now=now, chunk_size=chunk_size)
    if again.created or again.entries or again.points or again.skipped != len(rows):
        failures.append(f"the re-run changed something: {again}")
    if Purchase.objects.count() != purchases or LedgerEntry.objects.count() != earn["n"]:
        failures.append("the re-run wrote rows")
    return failures


def compare_with_single_posts(rows, member_ids, *, now, count: int) -> list[str]:
    """Post the rows of `count` members again, one by one through purchase_post, for fresh twin members,
    and compare balances, pending points, ledger entries and tiers."""
    from members.models import Member
    from rewards.models import LedgerEntry, PointsAccount
    from rewards.services import purchase_post

    if count <= 0:
        return []
    chosen = set(member_ids[:count])
    twins = {}
    for member in Member.objects.filter(pk__in=chosen):
        twins[member.pk] = Member.objects.create(
            member_number=f"8{member.pk:09d}",
            referral_code=f"T{member.pk:08d}",
            first_name=member.first_name,
            last_name=member.last_name,
        )
    for row in rows:
        if row.member_id in chosen:
            purchase_post(
                member=twins[row.member_id],
                source="twin",
                external_id=row.external_id,
                amount=row.amount,
                purchased_at=row.purchased_at,
                store=row.store,
                lines=row.lines,
                now=now,
            )

    def summary(member_id):
        account = PointsAccount.objects.filter(member_id=member_id).first()
        points = sorted(
            LedgerEntry.objects.filter(member_id=member_id).values_list("bucket", "points", "created_at", "rules")
        )
        return (account.balance, account.pending, account.tier_id, points) if account else None

    failures = []
    for original, twin in twins.items():
        if summary(original) != summary(twin.pk):
            failures.append(f"member {original} differs from one-by-one posting: {summary(original)[:3]}")
    print(f"Compared {len(twins)} members with one-by-one posting: {len(twins) - len(failures)} identical")
    return failures[:10]


if __name__ == "__main__":
    raise SystemExit(main())
