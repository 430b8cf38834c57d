"""Profile the member portal's pages in one process: CPU time and queries per page, and optionally a cProfile.

Run it against the database `bench_portal_load.py` filled (100,000 members, 1,000,000 purchases):

    DATABASE_URL=postgres://loyalty@127.0.0.1:55432/loyalty_bench_portal .venv/bin/python bench/profile_portal_pages.py
    # one page under cProfile, the 30 costliest functions by own time and by cumulative time:
    DATABASE_URL=... .venv/bin/python bench/profile_portal_pages.py --profile dashboard --top 30

Each page is requested through Django's full middleware stack (the test client, production settings, DEBUG off)
as one of the members the load test logs in, `--repeat` times after one warm-up; the figure is CPU time of this
process (`time.process_time`), which other tenants of a shared machine disturb far less than wall time, and the
queries the page ran. The database is only read, except by the redemption (which spends the member's points,
as the load test does) and the login session this script makes.
"""

import argparse
import cProfile
import io
import os
import pstats
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TOKEN_INPUT = re.compile(r'name="token" value="([0-9a-f]+)"')
HTMX = {"HTTP_HX_REQUEST": "true"}


def pages(client, member) -> dict:
    """name -> a function making the request (the names the load test uses)."""
    from rewards.models import Purchase, Reward

    purchase = Purchase.objects.filter(member=member).order_by("-pk").values_list("pk", flat=True).first()
    reward = Reward.objects.filter(is_active=True).order_by("points_cost").values_list("code", flat=True).first()

    def redeem():
        url = f"/nagrody/{reward}/wymien/"
        confirm = client.get(url, **HTMX)
        token = TOKEN_INPUT.search(confirm.content.decode())
        return client.post(url, {"token": token.group(1) if token else ""}, **HTMX)

    return {
        "dashboard": lambda: client.get("/"),
        "history": lambda: client.get("/historia/"),
        "history: next page (htmx)": lambda: client.get("/historia/?page=2", **HTMX),
        "history: purchases filter (htmx)": lambda: client.get("/historia/?type=purchases", **HTMX),
        "history: a purchase's lines (htmx)": lambda: client.get(f"/historia/zakup/{purchase}/", **HTMX),
        "catalog": lambda: client.get("/nagrody/"),
        "catalog: affordable filter (htmx)": lambda: client.get("/nagrody/?affordable=1", **HTMX),
        "redeem: confirmation (htmx)": lambda: client.get(f"/nagrody/{reward}/wymien/", **HTMX),
        "redeem: confirmation + POST (htmx)": redeem,
        "vouchers": lambda: client.get("/kupony/"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--profile", default="", help="a page name (or its start) to run under cProfile")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--language", default="pl")
    parser.add_argument("--sql", action="store_true", help="print the queries of each page")
    args = parser.parse_args()

    os.environ.setdefault("ALLOWED_HOSTS", "testserver,127.0.0.1,localhost")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
    os.environ.setdefault("SESSION_COOKIE_SECURE", "0")
    os.environ.setdefault("CSRF_COOKIE_SECURE", "0")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import _setup

    _setup.bootstrap()
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from members.models import Member

    member = (
        Member.objects.filter(user__username__startswith="bench", user__isnull=False)
        .select_related("user")
        .order_by("pk")
        .first()
    )
    if member is None:
        sys.exit("No member with a bench login: run bench/bench_portal_load.py first")
    client = Client()
    client.force_login(member.user, backend=settings.AUTHENTICATION_BACKENDS[-1])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = args.language
    print(f"member {member.member_number} (pk {member.pk}), language {args.language}, {args.repeat} requests per page")
    print("| page | status | bytes | queries | CPU ms per request |")
    print("|---|---:|---:|---:|---:|")
    for name, request in pages(client, member).items():
        if args.profile and not name.startswith(args.profile):
            continue
        response = request()  # warm-up: templates compiled, caches filled
        queries: list[str] = []

        def count(execute, sql, params, many, context, queries=queries):
            queries.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):
            request()
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        started = time.process_time()
        if profiler:
            profiler.enable()
        for _ in range(args.repeat):
            request()
        if profiler:
            profiler.disable()
        cpu = (time.process_time() - started) / args.repeat * 1000
        print(f"| {name} | {response.status_code} | {len(response.content):,} | {len(queries)} | {cpu:.1f} |")
        if args.sql:
            for sql in queries:
                print(f"    {sql[:300]}")
        if profiler:
            for key in ("tottime", "cumulative"):
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(key).print_stats(args.top)
                print(out.getvalue())
    return 0


if __name__ == "__main__":
    sys.exit(main())
