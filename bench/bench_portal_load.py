"""Bench: the member portal under load. gunicorn + PostgreSQL, locust in a second process on loopback, many
different members logged in; requests/s and p50/p95/p99 per page.

    DATABASE_URL=postgres://loyalty@127.0.0.1:55432/loyalty_bench .venv/bin/python bench/bench_portal_load.py
    # smaller and quicker: --members 10000 --purchases 100000 --users 10,30 --duration 30
    # a smoke run (a minute, checks every task works, measures nothing): --smoke

The database is dropped and filled: `--members` members (100,000), `--purchases` purchases (1,000,000) posted by
the batch (points, pending, lots, tiers), then `--logins` members (5,000) get a portal login and a session made
directly in the session table, so the load measures pages, not password hashing. gunicorn serves the project
with production settings (DEBUG off) on a free port; locust runs headless at each `--users` level for
`--duration` seconds, every simulated member using their own session, and the figures come from locust's CSV.

The catalog (`--rewards` rewards, unlimited stock, costs the members' points reach) is browsed with its filters,
and a redemption is made as a member makes it: the confirmation page (its CSRF and idempotency tokens), then the
POST through `reward_redeem`; a refusal (not enough points) is a clean answer, not a failure. Adding a page to the
load: write a method on `PortalMember` below decorated with `@task(weight)`; it appears in the table under the
`name` it gives locust. `--smoke` runs everything on a tiny dataset for a few seconds (checks, not figures).

This file is also the locustfile: locust imports it with PORTAL_BENCH_LOCUST=1 set, and then only the user
class below is defined (the driver part never runs inside locust, whose gevent patches do not suit Django).
"""

import argparse
import csv
import os
import random
import re
import resource
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

if os.environ.get("PORTAL_BENCH_LOCUST"):
    from locust import HttpUser, between, task

    SESSIONS = Path(os.environ["PORTAL_BENCH_SESSIONS"]).read_text().split()
    HTMX = {"HX-Request": "true"}
    PURCHASE_LINK = re.compile(r"/historia/zakup/(\d+)/")
    REWARD_LINK = re.compile(r'href="/nagrody/([a-z0-9-]+)/"')
    CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
    TOKEN_INPUT = re.compile(r'name="token" value="([0-9a-f]+)"')

    class PortalMember(HttpUser):
        """One logged-in member: mostly the dashboard and the history, as a member checks their points."""

        # Short waits: the bench looks for the highest throughput the server sustains (PORTAL_BENCH_WAIT, seconds).
        wait_time = between(0, float(os.environ.get("PORTAL_BENCH_WAIT", "0.2")))

        def on_start(self):
            self.client.cookies.set("sessionid", random.choice(SESSIONS))
            self.purchases: list[str] = []
            self.rewards: list[str] = []

        def page(self, path: str, name: str, *, htmx: bool = False, method: str = "GET", **kwargs):
            """A request that counts as failed unless it answers 200 itself: a redirect (to the login page, if a
            session were not valid) would otherwise be followed and counted as a success."""
            headers = {**(HTMX if htmx else {}), **kwargs.pop("headers", {})}
            with self.client.request(
                method, path, name=name, headers=headers, allow_redirects=False, catch_response=True, **kwargs
            ) as response:
                if response.status_code == 200:
                    response.success()
                else:
                    response.failure(f"HTTP {response.status_code}")
                return response

        @task(4)
        def dashboard(self):
            self.page("/", "dashboard")

        @task(3)
        def history(self):
            response = self.page("/historia/", "history")
            if response.status_code == 200:
                self.purchases = PURCHASE_LINK.findall(response.text)[:5]

        @task(2)
        def history_scroll(self):
            """The next page, as scrolling loads it (an htmx fragment)."""
            self.page("/historia/?page=2", "history: next page (htmx)", htmx=True)

        @task(1)
        def history_filtered(self):
            self.page("/historia/?type=purchases", "history: purchases filter (htmx)", htmx=True)

        @task(1)
        def purchase_lines(self):
            if self.purchases:
                pk = random.choice(self.purchases)
                self.page(f"/historia/zakup/{pk}/", "history: a purchase's lines (htmx)", htmx=True)

        @task(2)
        def catalog(self):
            response = self.page("/nagrody/", "catalog")
            if response.status_code == 200:
                self.rewards = sorted(set(REWARD_LINK.findall(response.text)))

        @task(1)
        def catalog_affordable(self):
            self.page("/nagrody/?affordable=1", "catalog: affordable filter (htmx)", htmx=True)

        @task(1)
        def redeem(self):
            """Confirm, then redeem (htmx), as the portal's button does; "not enough points" is an answer too."""
            if not self.rewards:
                return
            url = f"/nagrody/{random.choice(self.rewards)}/wymien/"
            confirm = self.page(url, "redeem: confirmation (htmx)", htmx=True)
            csrf, token = CSRF_INPUT.search(confirm.text), TOKEN_INPUT.search(confirm.text)
            if not csrf or not token:
                return  # refused already on the confirmation (e.g. too few points): no button to press
            self.page(
                url,
                "redeem: reward_redeem (htmx POST)",
                htmx=True,
                method="POST",
                data={"csrfmiddlewaretoken": csrf.group(1), "token": token.group(1)},
                headers={"X-CSRFToken": csrf.group(1), "Referer": self.host + url},
            )


sys.path.insert(0, str(Path(__file__).resolve().parent))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def load(args) -> list[str]:
    """Fill the database and return the session keys of the members who are logged in."""
    import _setup

    url = _setup.bootstrap()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.hashers import make_password
    from django.utils import timezone

    from members.models import Member
    from rewards.batch import purchases_post_batch
    from rewards.selectors import ledger_mismatches

    _setup.reset_database(url)
    _setup.print_machine_info()
    _setup.create_programme()
    started = time.perf_counter()
    member_ids = _setup.create_members(args.members)
    now = timezone.now()
    chunk = 200_000
    for first in range(0, args.purchases, chunk):
        count = min(chunk, args.purchases - first)
        rows = _setup.purchase_rows(member_ids, count, now=now, seed=first + 7, prefix=f"P{first // chunk}-")
        purchases_post_batch(rows, now=now, workers=2)
        print(f"  purchases posted: {first + count:,}/{args.purchases:,} ({time.perf_counter() - started:.0f} s)")
    mismatches = ledger_mismatches()
    if mismatches:
        sys.exit(f"The ledger does not match the balances for {len(mismatches)} accounts")
    create_catalog(args.rewards)

    # Logins with one hash made once (hashing 5,000 Argon2 passwords would measure nothing of the portal).
    users = get_user_model()
    password = make_password("bench-password-1")
    chosen = random.Random(5).sample(member_ids, min(args.logins, len(member_ids)))
    created = users.objects.bulk_create(
        [users(username=f"bench{n}", password=password, is_active=True) for n in range(len(chosen))],
        batch_size=5000,
    )
    members = list(Member.objects.filter(pk__in=chosen).order_by("pk"))
    for member, user in zip(members, created, strict=True):
        member.user_id = user.pk
    Member.objects.bulk_update(members, ["user"], batch_size=5000)
    keys = make_sessions()
    _setup.analyze()
    print(
        f"Loaded {args.members:,} members, {args.purchases:,} purchases, {len(keys):,} logged-in members "
        f"in {time.perf_counter() - started:.0f} s"
    )
    return keys


def make_sessions() -> list[str]:
    """A session for every bench login (usernames bench0, bench1, ...), made straight in the session table.

    Run after loading and again on every `--skip-load` run: a session and its auth hash are signed with
    SECRET_KEY, which each run makes anew, so last run's sessions would not verify. The bench database holds only
    bench sessions, so the old ones are deleted first."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from django.utils.crypto import get_random_string

    backend = settings.AUTHENTICATION_BACKENDS[-1]
    users = get_user_model().objects.filter(username__startswith="bench", member__isnull=False).order_by("pk")
    store = SessionStore()
    expires = timezone.now() + timezone.timedelta(days=1)
    sessions = [
        Session(
            session_key=get_random_string(32, "abcdefghijklmnopqrstuvwxyz0123456789"),
            session_data=store.encode(
                {
                    SESSION_KEY: str(user.pk),
                    BACKEND_SESSION_KEY: backend,
                    HASH_SESSION_KEY: user.get_session_auth_hash(),
                }
            ),
            expire_date=expires,
        )
        for user in users
    ]
    Session.objects.all().delete()
    Session.objects.bulk_create(sessions, batch_size=5000)
    return [session.session_key for session in sessions]


def create_catalog(count: int) -> None:
    """`count` active rewards with unlimited stock, from 50 points up (what members with a few purchases reach)."""
    from rewards.models import Reward

    kinds = [Reward.Kind.PRODUCT, Reward.Kind.VOUCHER, Reward.Kind.FREE_DELIVERY, Reward.Kind.EXPERIENCE]
    Reward.objects.bulk_create(
        [
            Reward(
                code=f"bench-{n}",
                name=f"Bench reward {n}",
                kind=kinds[n % len(kinds)],
                points_cost=50 + 25 * n,
                voucher_valid_days=30,
            )
            for n in range(count)
        ]
    )


def start_gunicorn(args, port: int, env: dict) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "loyalty_site.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--threads",
        str(args.threads),
        "--backlog",
        "2048",
        "--access-logfile",
        "/dev/null",
        "--log-level",
        "warning",
    ]
    server = subprocess.Popen(command, env=env, cwd=Path(__file__).resolve().parent.parent)
    for _ in range(100):
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return server
        except OSError:
            time.sleep(0.2)
    server.kill()
    sys.exit("gunicorn did not start")


def warm_up(port: int, sessions: list[str]) -> None:
    """One round of every page in every worker before measuring: templates compiled, connections open, caches of
    translations and URL patterns filled (what a server that has run a minute has)."""
    import http.client

    for key in sessions[:40]:
        for path in ("/", "/historia/", "/nagrody/", "/kupony/"):
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            connection.request("GET", path, headers={"Cookie": f"sessionid={key}"})
            connection.getresponse().read()
            connection.close()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children that have ended (/proc/<pid>/stat), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def server_cpu_seconds(server: subprocess.Popen) -> float:
    """CPU used so far by gunicorn's master and its workers: what the portal's Python costs, whatever else runs."""
    pids = [server.pid]
    try:
        for task in Path(f"/proc/{server.pid}/task").iterdir():
            pids += [int(pid) for pid in (task / "children").read_text().split()]
    except OSError:
        pass
    return sum(process_cpu_seconds(pid) for pid in pids)


def database_cpu_seconds(database: str) -> float:
    """CPU used so far by the PostgreSQL backends serving `database` (gunicorn's workers keep their connections
    for the whole run, so the same backends are counted before and after a level)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if command.startswith(b"postgres: ") and f" {database} ".encode() in command:
            total += process_cpu_seconds(int(entry.name))
    return total


def run_locust(args, port: int, users: int, sessions_file: Path, out: Path) -> list[dict]:
    env = {**os.environ, "PORTAL_BENCH_LOCUST": "1", "PORTAL_BENCH_SESSIONS": str(sessions_file)}
    prefix = out / f"locust-{users}"
    command = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        __file__,
        "--headless",
        "--only-summary",
        "--host",
        f"http://127.0.0.1:{port}",
        "-u",
        str(users),
        "-r",
        str(max(1, users)),
        "-t",
        f"{args.duration}s",
        "--csv",
        str(prefix),
        "--loglevel",
        "WARNING",
    ]
    with open(f"{prefix}.log", "w") as log:
        subprocess.run(command, env=env, check=False, stdout=log, stderr=subprocess.STDOUT)
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--purchases", type=int, default=1_000_000)
    parser.add_argument("--logins", type=int, default=5_000, help="members logged in (each locust user takes one)")
    parser.add_argument(
        "--users",
        default="2,4,8,12,16,24,32",
        help="locust users (concurrent members), one run per level, ascending; the sweep stops after the first "
        "level whose p95 is over the target",
    )
    parser.add_argument("--duration", type=int, default=40, help="seconds per level")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (2 cores: 3)")
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"], help="gunicorn worker class")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker (gthread)")
    parser.add_argument("--rewards", type=int, default=40, help="rewards in the catalog")
    parser.add_argument("--target-p95", type=float, default=100.0, help="ms: the target the sweep is judged on")
    parser.add_argument("--skip-load", action="store_true", help="reuse the database filled by an earlier run")
    parser.add_argument("--no-stop", action="store_true", help="run every --users level, even past the target")
    parser.add_argument(
        "--smoke", action="store_true", help="a tiny run that checks every task (200 members, 2 users, 30 s)"
    )
    args = parser.parse_args()
    if args.smoke:
        args.members, args.purchases, args.logins, args.users, args.duration, args.workers = 200, 2000, 20, "2", 30, 2

    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    sessions_file = out / "portal-sessions.txt"
    secret = os.environ.get("SECRET_KEY") or secrets.token_urlsafe(40)
    os.environ["SECRET_KEY"] = secret  # sessions made here must verify in gunicorn
    if args.skip_load:
        import _setup

        _setup.bootstrap()
        _setup.print_machine_info()
        keys = make_sessions()
        if not keys:
            sys.exit("No bench logins in this database: run without --skip-load first")
        print(f"Reusing the loaded database: {len(keys):,} logged-in members (sessions made anew)")
        sessions_file.write_text("\n".join(keys))
    else:
        sessions_file.write_text("\n".join(load(args)))
    from django.db import connections

    database = connections["default"].settings_dict["NAME"]
    connections.close_all()

    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": secret,
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
        "DATABASE_CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
    }
    port = free_port()
    server = start_gunicorn(args, port, env)
    levels = []
    try:
        warm_up(port, sessions_file.read_text().split())
        threads = f" x {args.threads} threads" if args.worker_class == "gthread" else ""
        print(
            f"\ngunicorn: {args.workers} {args.worker_class} workers{threads} on 127.0.0.1:{port}; "
            f"locust {args.duration} s per level"
        )
        print("| users | page | requests | failures | req/s | p50 ms | p95 ms | p99 ms |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|")
        for users in [int(value) for value in args.users.split(",")]:
            cpu_before, database_before = server_cpu_seconds(server), database_cpu_seconds(database)
            locust_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            rows = run_locust(args, port, users, sessions_file, out)
            locust_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = server_cpu_seconds(server) - cpu_before
            database_cpu = database_cpu_seconds(database) - database_before
            locust_cpu = (locust_after.ru_utime + locust_after.ru_stime) - (
                locust_before.ru_utime + locust_before.ru_stime
            )
            for row in rows:
                print(
                    f"| {users} | {row['Name']} | {row['Request Count']} | {row['Failure Count']} | "
                    f"{float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | {row['99%']} |"
                )
            total = next(row for row in rows if row["Name"] == "Aggregated")
            requests = int(total["Request Count"])
            levels.append(
                {
                    "users": users,
                    "requests": requests,
                    "failures": int(total["Failure Count"]),
                    "rps": float(total["Requests/s"]),
                    "p50": float(total["50%"]),
                    "p95": float(total["95%"]),
                    "p99": float(total["99%"]),
                    "cpu_ms": cpu * 1000 / requests if requests else 0.0,
                    "database_ms": database_cpu * 1000 / requests if requests else 0.0,
                    "locust_ms": locust_cpu * 1000 / requests if requests else 0.0,
                    "load": " ".join(f"{value:.2f}" for value in os.getloadavg()),
                }
            )
            if levels[-1]["p95"] > args.target_p95 and not args.no_stop:
                break
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    print(
        "\nAll pages together, per level. CPU ms per request: gunicorn's processes (server), the PostgreSQL backends "
        "(db) and locust (client); 2,000 divided by their sum is what 2 idle cores could serve."
    )
    print("| users | requests | failures | req/s | p50 ms | p95 ms | p99 ms | CPU server / db / client | load avg |")
    print("|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for level in levels:
        print(
            f"| {level['users']} | {level['requests']:,} | {level['failures']} | {level['rps']:.1f} | "
            f"{level['p50']:.0f} | {level['p95']:.0f} | {level['p99']:.0f} | "
            f"{level['cpu_ms']:.1f} / {level['database_ms']:.1f} / {level['locust_ms']:.1f} | {level['load']} |"
        )
    good = [level for level in levels if level["p95"] <= args.target_p95 and level["failures"] == 0]
    if good:
        best = max(good, key=lambda level: level["rps"])
        print(
            f"\nHighest throughput with p95 under {args.target_p95:.0f} ms and no failure: {best['rps']:.1f} req/s "
            f"at {best['users']} users (p50 {best['p50']:.0f} / p95 {best['p95']:.0f} / p99 {best['p99']:.0f} ms)"
        )
    else:
        print(f"\nNo level met p95 under {args.target_p95:.0f} ms with no failure")
    return 0


if __name__ == "__main__" and not os.environ.get("PORTAL_BENCH_LOCUST"):
    sys.exit(main())
