"""Imports side by side, on one purchases file: our import path, django-import-export's default, and COPY.

    DATABASE_URL=postgres://loyalty@127.0.0.1:55432/loyalty_bench python bench/bench_import.py --rows 100000

Each path runs in its own process on a freshly reset database with the same members and programme, so
its peak RSS is its own:
  ours     the engine the admin runs (loyalty_site/files/importing/): preview, then confirm, points posted
           through the earning rules;
  default  django-import-export's Resource.import_data, row by row, on an untuned ModelResource whose
           save_instance posts each purchase through rewards.services.purchase_post (dry run as its
           preview, then the import);
  copy     PostgreSQL COPY of the same file into a plain table: the floor. Also the same rows read in
           Python and sent one by one with psycopg's write_row (a COPY from code holding parsed rows).
  web      the admin as staff click through it (upload, job page, confirm, job page) in one process,
           with the preview and the import in worker processes of their own: each one's peak RSS.
`--rows 1000000 --only web` reports the memory of web and worker processes for a million-row file;
`--default-rows N` runs the default path on the first N rows only (it runs at about 100 rows/s).
"""

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _setup

WORKER: dict = {}  # the stage and job a worker child runs
HEADER = ["purchase_id", "member_number", "purchased_at", "amount", "store", "sku", "category", "line_amount"]
MEMBERS = 10_000


def write_file(path: Path, rows: int, seed: int = 7) -> None:
    """`rows` lines; about 30% of purchases have 2-3 line rows (the purchase columns repeated)."""
    from django.utils import timezone

    rng = random.Random(seed)
    now = timezone.localtime()
    written = 0
    n = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(HEADER)
        while written < rows:
            n += 1
            when = (now - timedelta(days=20 + rng.random() * 300)).strftime("%d.%m.%Y %H:%M")
            member = f"9{rng.randrange(MEMBERS):09d}"
            store = rng.choice(_setup.STORES)
            parts = rng.choice([2, 3]) if rng.random() < 0.3 else 1
            amounts = [rng.randint(500, 30000) for _ in range(parts)]
            total = sum(amounts)
            for cents in amounts[: rows - written]:
                line = [
                    f"{cents // 100},{cents % 100:02d}",
                    f"SKU{rng.randint(1, 500):04d}",
                    rng.choice(_setup.CATEGORIES),
                ]
                if parts == 1:
                    line = ["", "", ""]
                writer.writerow(
                    [f"IMP{n:09d}", member, when, f"{total // 100},{total % 100:02d}", store, line[1], line[2], line[0]]
                )
                written += 1


def prepare_database() -> None:
    _setup.reset_database(_setup.database_url())
    _setup.create_programme()
    _setup.create_members(MEMBERS)
    _setup.analyze()


def run_ours(path: Path, rows: int, preview_only: bool) -> dict:
    from django.contrib.auth import get_user_model
    from django.core.files import File

    from loyalty_site.files.importing import import_apply, import_job_create, import_preview
    from rewards.selectors import ledger_mismatches

    user = get_user_model().objects.create_superuser("bench", "bench@example.pl", "x")
    with path.open("rb") as handle:
        job = import_job_create(
            kind="purchases", file=File(handle), name=path.name, user=user, options={"source": "pos"}
        )
    start = time.perf_counter()
    job = import_preview(job=job)
    preview = time.perf_counter() - start
    result = {"preview_rows_per_s": rows / preview, "preview_s": preview, "counts": job.counts}
    if not preview_only:
        start = time.perf_counter()
        job = import_apply(job=job)
        confirm = time.perf_counter() - start
        from members.models import Purchase
        from rewards.models import LedgerEntry

        result.update(
            confirm_rows_per_s=rows / confirm,
            confirm_s=confirm,
            status=job.status,
            purchases=Purchase.objects.count(),
            earn_entries=LedgerEntry.objects.filter(kind="earn").count(),
            ledger_exact=not ledger_mismatches(),
        )
        # A second upload of the same file must post nothing.
        with path.open("rb") as handle:
            again = import_job_create(
                kind="purchases", file=File(handle), name=path.name, user=user, options={"source": "pos"}
            )
        again = import_apply(job=import_preview(job=again))
        result["second_upload_new_entries"] = LedgerEntry.objects.filter(kind="earn").count() - result["earn_entries"]
    result["peak_rss_mb"] = _setup.peak_rss_mb()
    result["posting_processes_peak_rss_mb"] = _setup.children_peak_rss_mb()
    return result


def run_default(path: Path, rows: int, limit: int | None = None) -> dict:
    import tablib
    from import_export import fields, resources, widgets

    from members.models import Member, Purchase
    from rewards.models import LedgerEntry
    from rewards.services import purchase_post

    class PurchaseResource(resources.ModelResource):
        member = fields.Field(
            attribute="member",
            column_name="member_number",
            widget=widgets.ForeignKeyWidget(Member, field="member_number"),
        )
        external_id = fields.Field(attribute="external_id", column_name="purchase_id")

        class Meta:
            model = Purchase
            fields = ("external_id", "member", "purchased_at", "amount", "store")
            import_id_fields = ("external_id",)

        def save_instance(self, instance, is_create, row, **kwargs):
            # The one change an untuned resource needs to post points: save through the ledger service.
            # A repeated purchase id (a further line row) finds the purchase and changes nothing.
            if is_create:
                purchase_post(
                    member=instance.member,
                    source="pos",
                    external_id=instance.external_id,
                    amount=instance.amount,
                    purchased_at=instance.purchased_at,
                    store=instance.store,
                )

    with path.open(encoding="utf-8") as handle:
        reader = csv.reader(handle, delimiter=";")
        next(reader)
        data = tablib.Dataset(headers=["purchase_id", "member_number", "purchased_at", "amount", "store"])
        for index, row in enumerate(reader):
            if limit is not None and index >= limit:
                break
            day, clock = row[2].split(" ")
            d, m, y = day.split(".")
            data.append([row[0], row[1], f"{y}-{m}-{d} {clock}", row[3].replace(",", "."), row[4]])
    rows = len(data)
    resource_ = PurchaseResource()
    start = time.perf_counter()
    dry = resource_.import_data(data, dry_run=True)
    preview = time.perf_counter() - start
    start = time.perf_counter()
    real = resource_.import_data(data, dry_run=False)
    confirm = time.perf_counter() - start
    return {
        "preview_rows_per_s": rows / preview,
        "confirm_rows_per_s": rows / confirm,
        "preview_s": preview,
        "confirm_s": confirm,
        "rows": rows,
        "errors": dry.has_errors() or real.has_errors(),
        "purchases": Purchase.objects.count(),
        "earn_entries": LedgerEntry.objects.filter(kind="earn").count(),
        "peak_rss_mb": _setup.peak_rss_mb(),
    }


def run_copy(path: Path, rows: int) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE bench_copy (purchase_id text, member_number text, purchased_at text, amount text, "
            "store text, sku text, category text, line_amount text)"
        )
    start = time.perf_counter()
    copy_sql = "COPY bench_copy FROM STDIN WITH (FORMAT csv, DELIMITER ';', HEADER true)"
    with connection.cursor() as cursor, path.open("rb") as handle, cursor.copy(copy_sql) as copy:
        while chunk := handle.read(1 << 20):
            copy.write(chunk)
    elapsed = time.perf_counter() - start
    # The same rows read in Python and sent one by one (what code holding parsed rows can do at best).
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_copy_rows (LIKE bench_copy)")
    start = time.perf_counter()
    with (
        connection.cursor() as cursor,
        path.open(encoding="utf-8", newline="") as handle,
        cursor.copy("COPY bench_copy_rows FROM STDIN") as copy,
    ):
        reader = csv.reader(handle, delimiter=";")
        next(reader)
        for row in reader:
            copy.write_row(row)
    by_row = time.perf_counter() - start
    return {
        "rows_per_s": rows / elapsed,
        "seconds": elapsed,
        "rows_from_python_per_s": rows / by_row,
        "peak_rss_mb": _setup.peak_rss_mb(),
    }


def run_web(path: Path, rows: int) -> dict:
    """The web process's side of a big import, as staff click through it in the admin: upload the file, open
    the job page, confirm, open it again. The preview and the import run in worker processes of their own
    (as Celery runs them), and each reports its own peak RSS."""
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from loyalty_site.files.admin_imports import actions as admin_imports  # the module that queues the tasks
    from loyalty_site.files.models import ImportJob

    queued: list[tuple[str, int]] = []

    class Queue:
        """Stands in for the broker: the admin queues the task; the bench runs it in a worker process."""

        def __init__(self, stage):
            self.stage = stage

        def delay_on_commit(self, job_id):
            queued.append((self.stage, job_id))

    admin_imports.import_preview_task = Queue("preview")
    admin_imports.import_apply_task = Queue("apply")
    user = get_user_model().objects.create_superuser("bench", "bench@example.pl", "x")
    from django.conf import settings

    settings.ALLOWED_HOSTS = ["localhost"]  # production settings (DEBUG off): a host, and HTTPS
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    result: dict = {}
    start = time.perf_counter()
    status = _upload_streamed(path, client.cookies["sessionid"].value)
    result["upload_s"] = time.perf_counter() - start
    assert status.startswith("302"), status
    job = ImportJob.objects.get()
    page = reverse("admin:files_importjob_change", args=[job.pk])
    workers = {}
    for stage in ("preview", "apply"):
        assert queued and queued[-1] == (stage, job.pk), queued
        started = time.perf_counter()
        workers[stage] = _worker(stage, job.pk)
        workers[stage]["seconds"] = time.perf_counter() - started
        start = time.perf_counter()
        response = client.get(page, secure=True)
        result[f"page_after_{stage}_s"] = time.perf_counter() - start
        result[f"page_after_{stage}_kb"] = len(response.content) / 1024
        assert response.status_code == 200
        if stage == "preview":
            confirm = reverse("admin:files_importjob_confirm", args=[job.pk])
            response = client.post(confirm, {"action": "import", "source": "pos"}, secure=True)
            assert response.status_code == 302
    job.refresh_from_db()
    result.update(status=job.status, counts=job.counts, workers=workers, web_peak_rss_mb=_setup.peak_rss_mb())
    return result


def _upload_streamed(path: Path, session: str) -> str:
    """POST the file to the upload page through Django's WSGI handler with the request body read from disk,
    as a web server hands it over. (The test client builds the whole body in memory first, which would put
    three copies of the file into this process and into its peak RSS.)"""
    from django.core.handlers.wsgi import WSGIHandler
    from django.urls import reverse

    boundary = "bench-boundary-7MA4YWxkTrZu0gW"
    token = "b" * 32  # an unmasked CSRF secret: Django accepts it when the cookie holds the same
    body = path.with_suffix(".body")
    with body.open("wb") as out, path.open("rb") as source:
        for name, value in (("csrfmiddlewaretoken", token), ("kind", "purchases"), ("source", "pos")):
            out.write(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
        out.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
            "Content-Type: text/csv\r\n\r\n".encode()
        )
        while chunk := source.read(1 << 20):
            out.write(chunk)
        out.write(f"\r\n--{boundary}--\r\n".encode())
    statuses = []
    with body.open("rb") as stream:
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": reverse("admin:files_importjob_upload"),
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "443",
            "HTTP_HOST": "localhost",
            "HTTP_REFERER": "https://localhost/",
            "HTTP_COOKIE": f"sessionid={session}; csrftoken={token}",
            "CONTENT_TYPE": f"multipart/form-data; boundary={boundary}",
            "CONTENT_LENGTH": str(body.stat().st_size),
            "wsgi.input": stream,
            "wsgi.url_scheme": "https",
            "wsgi.errors": sys.stderr,
        }
        response = WSGIHandler()(environ, lambda status, headers: statuses.append(status))
        response.close()
    body.unlink()
    return statuses[0]


def _worker(stage: str, job_id: int) -> dict:
    command = [sys.executable, __file__, "--child", "worker", "--stage", stage, "--job", str(job_id)]
    output = subprocess.run(command, capture_output=True, text=True, check=False, env=os.environ)
    line = next((li for li in output.stdout.splitlines() if li.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"worker {stage} failed:\n{output.stdout[-2000:]}\n{output.stderr[-4000:]}")
    return json.loads(line[len("RESULT ") :])


def run_worker(stage: str, job_id: int) -> dict:
    from loyalty_site.files.tasks import import_apply_run, import_preview_run

    job = (import_preview_run if stage == "preview" else import_apply_run)(job_id)
    return {
        "status": job.status,
        "peak_rss_mb": _setup.peak_rss_mb(),
        "posting_processes_peak_rss_mb": _setup.children_peak_rss_mb(),
    }


def child(mode: str, path: Path, rows: int, preview_only: bool, default_rows: int | None = None) -> None:
    _setup.bootstrap()
    os.environ.setdefault("MEDIA_ROOT", tempfile.mkdtemp(prefix="bench-media-"))
    from django.conf import settings

    settings.MEDIA_ROOT = os.environ["MEDIA_ROOT"]
    if mode == "worker":
        print("RESULT " + json.dumps(run_worker(WORKER["stage"], WORKER["job"]), default=str))
        return
    prepare_database()
    runner = {
        "web": lambda: run_web(path, rows),
        "ours": lambda: run_ours(path, rows, preview_only),
        "default": lambda: run_default(path, rows, default_rows),
        "copy": lambda: run_copy(path, rows),
    }[mode]
    print("RESULT " + json.dumps(runner(), default=str))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--only", choices=["ours", "default", "copy", "web"], action="append")
    parser.add_argument("--preview-only", action="store_true")
    parser.add_argument(
        "--default-rows",
        type=int,
        help="run the default path on the first N rows of the file only (at ~100 rows/s the whole file takes long)",
    )
    parser.add_argument("--child", choices=["ours", "default", "copy", "web", "worker"], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--job", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "worker":
        WORKER.update(stage=args.stage, job=args.job)
    if args.child:
        child(args.child, args.file, args.rows, args.preview_only, args.default_rows)
        return
    url = _setup.bootstrap()
    _setup.reset_database(url)
    _setup.print_machine_info()
    folder = Path(tempfile.mkdtemp(prefix="bench-import-"))
    path = folder / "purchases.csv"
    write_file(path, args.rows)
    print(f"File: {args.rows:,} rows, {path.stat().st_size / 1e6:.1f} MB")
    results = {}
    for mode in args.only or ["copy", "ours", "default"]:
        command = [sys.executable, __file__, "--child", mode, "--file", str(path), "--rows", str(args.rows)]
        if args.preview_only:
            command.append("--preview-only")
        if args.default_rows:
            command += ["--default-rows", str(args.default_rows)]
        output = subprocess.run(command, capture_output=True, text=True, check=False)
        line = next((li for li in output.stdout.splitlines() if li.startswith("RESULT ")), None)
        if line is None:
            print(f"{mode}: failed\n{output.stdout[-2000:]}\n{output.stderr[-4000:]}")
            continue
        results[mode] = json.loads(line[len("RESULT ") :])
        print(f"{mode:8} {json.dumps(results[mode])}")
    if "ours" in results and "copy" in results and "confirm_rows_per_s" in results["ours"]:
        ours = results["ours"]
        print(f"ours vs COPY: confirm {results['copy']['rows_per_s'] / ours['confirm_rows_per_s']:.1f}x slower")
        by_row = results["copy"]["rows_from_python_per_s"] / ours["confirm_rows_per_s"]
        print(f"ours vs COPY of the rows sent from Python: confirm {by_row:.1f}x slower")
    if "ours" in results and "default" in results and "confirm_rows_per_s" in results["ours"]:
        ratio = results["ours"]["confirm_rows_per_s"] / results["default"]["confirm_rows_per_s"]
        print(f"ours vs default: confirm {ratio:.1f}x faster")


if __name__ == "__main__":
    main()
