"""The purchases import's preview measured by CPU time, on any checkout: the way to compare old and new code on
a shared machine, where wall-clock figures swing with the load but a process's own CPU seconds barely do.

    DATABASE_URL=postgres://loyalty@127.0.0.1:55432/loyalty_bench python bench/bench_preview_cpu.py \\
        --code /tmp/old --code /tmp/new --rounds 3 --rows 30000 --repeat 3

For each round and each `--code` checkout in turn (old, new, old, new, ...) a child process runs with that
checkout first on sys.path: it resets the bench database, migrates it with that checkout's migrations,
creates that checkout's programme and 10,000 members (its own bench/bench_import.py and bench/_setup.py),
writes the same seeded purchases file, and previews it `--repeat` times. Printed per preview: the
Python process's CPU seconds (`time.process_time`, the judged figure: the work the code does per row),
the wall seconds, rows per CPU second and the queries sent. `--profile` prints the top of a cProfile of the
last preview. Works on checkouts from before the import engine left `members` (1da3a69) and after.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def child(code: Path, rows: int, repeat: int, profile: bool) -> None:
    sys.path[:0] = [str(code), str(code / "bench")]
    os.chdir(code)
    import _setup  # the checkout's own
    import bench_import

    _setup.bootstrap()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.files import File
    from django.db import connection

    settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="bench-preview-media-")
    try:
        from loyalty_site.files.importing import import_job_create, import_preview
    except ImportError:  # before the engine left members
        from members.importing import import_job_create, import_preview
    bench_import.prepare_database()
    path = Path(tempfile.mkdtemp(prefix="bench-preview-")) / "purchases.csv"
    bench_import.write_file(path, rows)
    user = get_user_model().objects.create_superuser("bench", "bench@example.pl", "x")
    queries = []

    def count(execute, sql, params, many, context):
        queries[-1] += 1
        return execute(sql, params, many, context)

    results = []
    for attempt in range(repeat):
        with path.open("rb") as handle:
            job = import_job_create(
                kind="purchases", file=File(handle), name=path.name, user=user, options={"source": "pos"}
            )
        queries.append(0)
        profiler = None
        if profile and attempt == repeat - 1:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        cpu, wall = time.process_time(), time.perf_counter()
        with connection.execute_wrapper(count):
            job = import_preview(job=job)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        if profiler is not None:
            profiler.disable()
            import pstats

            pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
        assert job.status == "previewed", (job.status, job.error_message)
        results.append({"cpu_s": cpu, "wall_s": wall, "queries": queries[-1], "counts": job.counts})
    print("RESULT " + json.dumps(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--code", type=Path, action="append", help="a checkout to measure (default: this one)")
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3, help="previews per child process")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.rows, args.repeat, args.profile)
        return
    codes = [code.resolve() for code in (args.code or [HERE.parent])]
    cpu: dict[str, list[float]] = {str(code): [] for code in codes}
    print(f"rows {args.rows:,}, {args.repeat} previews per process; CPU seconds of the previewing process")
    for round_ in range(1, args.rounds + 1):
        for code in codes:
            with open("/proc/loadavg") as handle:
                load = " ".join(handle.read().split()[:3])
            command = [sys.executable, __file__, "--child", str(code), "--rows", str(args.rows)]
            command += ["--repeat", str(args.repeat)] + (["--profile"] if args.profile else [])
            output = subprocess.run(command, capture_output=True, text=True, check=False)
            line = next((li for li in output.stdout.splitlines() if li.startswith("RESULT ")), None)
            if args.profile:
                print(output.stderr[-6000:])
            if line is None:
                print(f"{code}: failed\n{output.stdout[-2000:]}\n{output.stderr[-4000:]}")
                continue
            runs = json.loads(line[len("RESULT ") :])
            cpu[str(code)] += [run["cpu_s"] for run in runs]
            figures = ", ".join(
                f"cpu {run['cpu_s']:.2f} s ({args.rows / run['cpu_s']:,.0f} rows/cpu-s), wall {run['wall_s']:.2f} s,"
                f" {run['queries']} queries"
                for run in runs
            )
            print(f"{time.strftime('%H:%M:%S')} round {round_} {code} load=[{load}]: {figures}")
    for code, values in cpu.items():
        if values:
            median = statistics.median(values)
            print(f"{code}: median cpu {median:.2f} s = {args.rows / median:,.0f} rows per CPU second ({len(values)})")


if __name__ == "__main__":
    main()
