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

        @task(4)
        def dashboard(self):
            self.client.get("/", name="dashboard")

        @task(3)
        def history(self):
            with self.client.get("/historia/", name="history", catch_response=True) as response:
                if response.status_code == 200:
                    self.purchases = PURCHASE_LINK.findall(response.text)[:5]
                    response.success()

        @task(2)
        def history_scroll(self):
            """The next page, as scrolling loads it (an htmx fragment)."""
            self.client.get("/historia/?page=2", headers=HTMX, name="history: next page (htmx)")

        @task(1)
        def history_filtered(self):
            self.client.get("/historia/?type=purchases", headers=HTMX, name="history: purchases filter (htmx)")

        @task(1)
        def purchase_lines(self):
            if self.purchases:
                pk = random.choice(self.purchases)
                self.client.get(f"/historia/zakup/{pk}/", headers=HTMX, name="history: a purchase's lines (htmx)")

        @task(2)
        def catalog(self):
            with self.client.get("/nagrody/", name="catalog", catch_response=True) as response:
                if response.status_code == 200:
                    self.rewards = sorted(set(REWARD_LINK.findall(response.text)))
                    response.success()

        @task(1)
        def catalog_affordable(self):
            self.client.get("/nagrody/?affordable=1", headers=HTMX, name="catalog: affordable filter (htmx)")

        @task(1)
        def redeem(self):
            """Confirm, then redeem (htmx), as the portal's button does; "not enough points" is an answer too."""
            if not self.rewards:
                return
            url = f"/nagrody/{random.choice(self.rewards)}/wymien/"
            confirm = self.client.get(url, headers=HTMX, name="redeem: confirmation (htmx)")
            csrf, token = CSRF_INPUT.search(confirm.text), TOKEN_INPUT.search(confirm.text)
            if not csrf or not token:
                return  # refused already on the confirmation (e.g. too few points): no button to press
            self.client.post(
                url,
                data={"csrfmiddlewaretoken": csrf.group(1), "token": token.group(1)},
                headers={**HTMX, "X-CSRFToken": csrf.group(1), "Referer": self.host + url},
                name="redeem: reward_redeem (htmx POST)",
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
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.auth.hashers import make_password
    from django.contrib.sessions.backends.db import SessionStore
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
    backend = settings.AUTHENTICATION_BACKENDS[-1]
    keys = []
    for user in created:
        session = SessionStore()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = backend
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        keys.append(session.session_key)
    _setup.analyze()
    print(
        f"Loaded {args.members:,} members, {args.purchases:,} purchases, {len(keys):,} logged-in members "
        f"in {time.perf_counter() - started:.0f} s"
    )
    return keys


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
        str(max(1, users // 5)),
        "-t",
        f"{args.duration}s",
        "--csv",
        str(prefix),
        "--loglevel",
        "WARNING",
    ]
    subprocess.run(command, env=env, check=False, stdout=subprocess.DEVNULL)
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--purchases", type=int, default=1_000_000)
    parser.add_argument("--logins", type=int, default=5_000, help="members logged in (each locust user takes one)")
    parser.add_argument("--users", default="10,25,50", help="locust users (concurrent members), one run per level")
    parser.add_argument("--duration", type=int, default=60, help="seconds per level")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--rewards", type=int, default=40, help="rewards in the catalog")
    parser.add_argument("--skip-load", action="store_true", help="reuse the database and sessions of the last run")
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
    else:
        sessions_file.write_text("\n".join(load(args)))

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
    try:
        print(f"\ngunicorn: {args.workers} sync workers on 127.0.0.1:{port}; locust {args.duration} s per level")
        print("| users | page | requests | failures | req/s | p50 ms | p95 ms | p99 ms | load avg |")
        print("|---:|---|---:|---:|---:|---:|---:|---:|---|")
        for users in [int(value) for value in args.users.split(",")]:
            rows = run_locust(args, port, users, sessions_file, out)
            load_average = " ".join(f"{value:.2f}" for value in os.getloadavg())
            for row in rows:
                print(
                    f"| {users} | {row['Name']} | {row['Request Count']} | {row['Failure Count']} | "
                    f"{float(row['Requests/s']):.1f} | {row['50%']} | {row['95%']} | {row['99%']} | {load_average} |"
                )
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    return 0


if __name__ == "__main__" and not os.environ.get("PORTAL_BENCH_LOCUST"):
    sys.exit(main())
