"""Background exports of the member list: CSV and XLSX of N members, rows per second and peak memory.

    DATABASE_URL=postgres://loyalty@127.0.0.1:55432/loyalty_bench python bench/bench_export.py   # --members 100000

The database is reset and filled with `--members` members (each with a points account in the bottom tier),
then every format runs in its own process, so its peak RSS is its own. A format's run is what the Celery
worker does for a big export from the admin: `loyalty_site.files.tasks.export_job_run` on a queued job of a superuser,
which rebuilds the member changelist's queryset (`--filters`, a changelist query string, e.g. "status=active"),
streams the rows through the member resource with points into a file under a temporary MEDIA_ROOT and
records the export. The process's RSS is read before the export (Django and the apps loaded) and its peak
after, so the difference is what the export itself took; it should not grow with the number of members.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _setup

FORMATS = ("csv", "xlsx")
USERNAME = "bench-export"


def rss_mb() -> float:
    """The process's resident memory now (Linux), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def prepare_database(members: int) -> None:
    from django.contrib.auth import get_user_model

    from rewards.models import PointsAccount, Tier

    _setup.reset_database(_setup.database_url())
    _setup.create_programme()
    member_ids = _setup.create_members(members)
    # Zero balances, so the accounts agree with the (empty) ledger; the export still joins account and tier.
    bronze = Tier.objects.get(code="bronze")
    PointsAccount.objects.bulk_create(
        (PointsAccount(member_id=member_id, tier=bronze) for member_id in member_ids), batch_size=5000
    )
    get_user_model().objects.create_superuser(USERNAME, "bench-export@example.pl", None)
    _setup.analyze()


def child(file_format: str, filters: str) -> None:
    os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="bench-export-media-")
    _setup.bootstrap()
    from django.contrib.auth import get_user_model

    from loyalty_site.files.exports import export_job_create
    from loyalty_site.files.tasks import export_job_run
    from members.models import Member

    user = get_user_model().objects.get(username=USERNAME)
    job = export_job_create(user=user, model=Member, filters=filters, file_format=file_format, personal_data=True)
    before = rss_mb()
    start = time.perf_counter()
    job = export_job_run(job.pk)
    elapsed = time.perf_counter() - start
    result = {
        "status": job.status,
        "error": job.error_message,
        "rows": job.total_rows,
        "seconds": round(elapsed, 2),
        "rows_per_s": round(job.total_rows / elapsed) if elapsed else None,
        "file_mb": round(job.file.size / 1e6, 2) if job.file else None,
        "rss_before_mb": round(before, 1),
        "peak_rss_mb": round(_setup.peak_rss_mb(), 1),
    }
    print("RESULT " + json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--only", choices=FORMATS, action="append", help="one format only (repeatable)")
    parser.add_argument("--filters", default="", help='the changelist query string, e.g. "status=active"')
    parser.add_argument("--child", choices=FORMATS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.filters)
        return
    _setup.bootstrap()
    start = time.perf_counter()
    prepare_database(args.members)
    _setup.print_machine_info()
    print(f"Database: {args.members:,} members with points accounts in {time.perf_counter() - start:.0f} s")
    failed = False
    for file_format in args.only or FORMATS:
        command = [sys.executable, __file__, "--child", file_format, "--filters", args.filters]
        output = subprocess.run(command, capture_output=True, text=True, check=False)
        line = next((li for li in output.stdout.splitlines() if li.startswith("RESULT ")), None)
        if line is None:
            print(f"{file_format}: failed\n{output.stdout[-2000:]}\n{output.stderr[-4000:]}")
            failed = True
            continue
        result = json.loads(line[len("RESULT ") :])
        print(f"{file_format:5} {json.dumps(result)}")
        if result["status"] != "done" or (not args.filters and result["rows"] != args.members):
            failed = True
    print(f"load average after: {_setup.load_average()}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
