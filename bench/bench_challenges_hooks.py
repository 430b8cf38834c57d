"""Bench: the cost of the engagement hooks on the batch posting path, with 20 active challenges listening.

    DATABASE_URL=postgres://loyalty@127.0.0.1:55432/loyalty_bench .venv/bin/python bench/bench_challenges_hooks.py

The same 100,000 purchases (bench/_setup.py's rows, members and programme, as bench_post_batch.py) are posted
with `purchases_post_batch` in three set-ups, each on a database dropped and created again:

- "no engagement receivers": rewards.engagement's receivers unregistered (the path as before the app);
- "receivers, no challenge": the app installed, nothing configured (what every programme pays);
- "receivers, N challenges": N running challenges of every purchase kind (count, spend, category, new store,
  first purchase; some for a tier), a first-purchase badge and a tier badge.

`--rounds 2` alternates the set-ups twice, so the host's drift (the CPU is shared) shows in the figures.
After each run it checks that the ledger equals the balances and, with challenges, that completions equal
the progress rows at or over their target and that posting the batch again changes no progress or prize.
"""

import argparse
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _setup
from _cpu import CpuMeter

SETUPS = ("off", "listening", "challenges")
LABELS = {
    "off": "no engagement receivers",
    "listening": "receivers, no challenge",
    "challenges": "receivers, {n} challenges",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purchases", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--chunk-size", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--challenges", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--only", choices=SETUPS, action="append", help="run only these set-ups")
    parser.add_argument(
        "--import-rows",
        type=int,
        default=0,
        help="also import a purchases file of this many rows through the admin's engine (bench_import.py's "
        "'ours': preview, then confirm) per set-up, and report the confirm's rows/s",
    )
    args = parser.parse_args()

    url = _setup.bootstrap()
    from django.utils import timezone

    now = timezone.now()
    _setup.reset_database(url)
    _setup.print_machine_info()
    print(
        f"Purchases: {args.purchases:,} over {args.members:,} members, chunks of {args.chunk_size:,}, "
        f"{args.workers} worker(s), {args.challenges} challenges"
    )
    setups = args.only or list(SETUPS)
    results: list[tuple[str, float, CpuMeter]] = []
    failures: list[str] = []
    imports: list[tuple[str, float]] = []
    for round_number in range(1, args.rounds + 1):
        for setup in setups:
            label = f"{LABELS[setup].format(n=args.challenges)} (round {round_number})"
            _setup.reset_database(url)
            meter = CpuMeter(urlsplit(url).path.lstrip("/"))
            seconds, problems = run(setup, args, now=now, meter=meter)
            results.append((label, seconds, meter))
            failures += [f"{label}: {problem}" for problem in problems]
            if args.import_rows:
                confirm, problems = run_import(setup, args, now=now)
                imports.append((label, confirm))
                failures += [f"import, {label}: {problem}" for problem in problems]

    print(f"\nLoad average after the runs: {_setup.load_average()}")
    print("Results (purchases_post_batch, purchases per second):")
    for label, seconds, meter in results:
        print(f"  {label:52} {seconds:8.2f} s  {args.purchases / seconds:10,.0f} /s  {meter.line(args.purchases)}")
    baseline = [seconds for label, seconds, _meter in results if label.startswith(LABELS["off"])]
    for label, seconds, _meter in results:
        if baseline and not label.startswith(LABELS["off"]):
            print(
                f"JUDGED: {label}: {args.purchases / seconds:,.0f}/s (target >= 5,000/s with 2 processes), "
                f"{min(baseline) / seconds:.2f}x of the fastest run without receivers"
            )
    if imports:
        print(f"Results (purchases import of {args.import_rows:,} rows, confirm, rows per second):")
        for label, rows_per_s in imports:
            print(f"  {label:52} {rows_per_s:10,.0f} /s")
            print(f"JUDGED: import confirm, {label}: {rows_per_s:,.0f} rows/s (target >= 8,000 rows/s)")
    if failures:
        print("\nFAILED CHECKS:")
        for failure in failures:
            print(f"  - {failure}")
        return 1
    print("\nAll checks passed: ledger == balances; completions == progress at target; a re-run changes nothing.")
    return 0


def receivers_set(on: bool) -> None:
    from loyalty_site import hooks
    from members.events import MemberJoined
    from rewards.engagement import receivers
    from rewards.events import PurchasePosted, PurchaseRefunded, TierChanged

    pairs = [
        (PurchasePosted, receivers.purchases_posted),
        (PurchaseRefunded, receivers.purchases_refunded),
        (MemberJoined, receivers.members_joined),
        (TierChanged, receivers.tiers_changed),
    ]
    for event_type, function in pairs:
        if on:
            hooks.receiver(event_type)(function)
        else:
            hooks.unregister(event_type, function)


def create_challenges(count: int, *, now) -> None:
    from rewards.engagement.models import Badge, Challenge
    from rewards.models import Tier

    first = Badge.objects.create(code="first", name="First purchase", milestone=Badge.Milestone.FIRST_PURCHASE)
    top = Tier.objects.order_by("-rank").first()
    if top is not None:
        Badge.objects.create(code="top", name="Top tier", milestone=Badge.Milestone.TIER_REACHED, tier=top)
    silver = Tier.objects.filter(rank=1).first()
    kinds = [
        {"kind": Challenge.Kind.PURCHASES, "target": 5},
        {"kind": Challenge.Kind.PURCHASES, "target": 20},
        {"kind": Challenge.Kind.SPEND, "target": 500},
        {"kind": Challenge.Kind.SPEND, "target": 3000},
        {"kind": Challenge.Kind.CATEGORY, "category": _setup.CATEGORIES[0], "target": 2},
        {"kind": Challenge.Kind.CATEGORY, "category": _setup.CATEGORIES[1], "target": 3},
        {"kind": Challenge.Kind.NEW_STORE, "target": 2},
        {"kind": Challenge.Kind.FIRST_PURCHASE, "target": 1},
        {"kind": Challenge.Kind.PURCHASES, "target": 3, "store": "online"},
        {"kind": Challenge.Kind.PURCHASES, "target": 4, "audience": "tier", "tier": silver},
    ]
    for n in range(count):
        spec = dict(kinds[n % len(kinds)])
        if spec.get("audience") == "tier" and silver is None:
            spec.pop("audience"), spec.pop("tier")
        spec["target"] = Decimal(spec["target"])
        Challenge.objects.create(
            code=f"bench-{n}",
            name=f"Bench challenge {n}",
            starts_at=now - timedelta(days=30 + 10 * (n % 10)),  # windows of different lengths
            ends_at=now + timedelta(days=30),
            points=100,
            badge=first if n == 0 else None,
            **spec,
        )


def run(setup: str, args, *, now, meter: CpuMeter) -> tuple[float, list[str]]:
    from django.db.models import F

    from rewards.batch import purchases_post_batch
    from rewards.engagement.models import BadgeAward, ChallengeCompletion, ChallengeProgress
    from rewards.selectors import ledger_mismatches

    receivers_set(setup != "off")
    _setup.create_programme()
    member_ids = _setup.create_members(args.members)
    if setup == "challenges":
        create_challenges(args.challenges, now=now)
    _setup.analyze()
    rows = _setup.purchase_rows(member_ids, args.purchases, now=now)
    timing: dict[str, float] = {}
    label = f"purchases_post_batch, {LABELS[setup].format(n=args.challenges)}"
    with meter.measure(), _setup.timed(label, timing):
        result = purchases_post_batch(rows, now=now, chunk_size=args.chunk_size, workers=args.workers)
    seconds = next(iter(timing.values()))
    problems = []
    if result.created != len(rows):
        problems.append(f"created {result.created} of {len(rows)}")
    mismatches = ledger_mismatches()
    if mismatches:
        problems.append(f"{len(mismatches)} accounts differ from the ledger")
    progress = ChallengeProgress.objects.count()
    reached = ChallengeProgress.objects.filter(value__gte=F("challenge__target")).count()
    completions = ChallengeCompletion.objects.count()
    badges = BadgeAward.objects.count()
    print(f"  progress rows {progress:,}, at target {reached:,}, completions {completions:,}, badges {badges:,}")
    if completions != reached:
        problems.append(f"{completions} completions for {reached} progress rows at target")
    if setup == "challenges":
        before = list(ChallengeProgress.objects.order_by("pk").values_list("value", flat=True))
        again = purchases_post_batch(rows, now=now, chunk_size=args.chunk_size, workers=args.workers)
        after = list(ChallengeProgress.objects.order_by("pk").values_list("value", flat=True))
        if again.created or before != after or ChallengeCompletion.objects.count() != completions:
            problems.append("posting the batch again changed progress or completions")
    receivers_set(True)
    return seconds, problems


def run_import(setup: str, args, *, now) -> tuple[float, list[str]]:
    """bench_import.py's 'ours' (the admin's engine) on a fresh database, with or without the receivers."""
    import tempfile

    import bench_import

    from rewards.engagement.models import ChallengeCompletion

    receivers_set(setup != "off")
    bench_import.prepare_database()
    if setup == "challenges":
        create_challenges(args.challenges, now=now)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "purchases.csv"
        bench_import.write_file(path, args.import_rows)
        result = bench_import.run_ours(path, args.import_rows, preview_only=False)
    receivers_set(True)
    problems = []
    if not result.get("ledger_exact") or result.get("second_upload_new_entries"):
        problems.append(f"ledger or second upload wrong: {result}")
    print(
        f"  import: confirm {result['confirm_s']:.2f} s, {result['confirm_rows_per_s']:,.0f} rows/s, "
        f"completions {ChallengeCompletion.objects.count():,}"
    )
    return result["confirm_rows_per_s"], problems


if __name__ == "__main__":
    sys.exit(main())
