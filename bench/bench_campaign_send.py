"""A personalised email campaign to 100,000 consenting members, end to end: messages per second.

Real pieces: PostgreSQL (DATABASE_URL, name containing "bench"; dropped and created again), Redis as the Celery
broker (CELERY_BROKER_URL), a Celery worker subprocess with two pool processes (`-c 2`, started with
`--without-heartbeat --without-gossip --without-mingle`), and an SMTP server on loopback in a process of its own
that counts what it accepts: by default Postfix's `smtp-sink` (the C SMTP test server Postfix ships for
benchmarking mail clients; PIPELINING; unpacked from Debian's postfix package into var/smtp-sink when not on
PATH, nothing installed or started), or `--sink light` (bench/smtp_sink.py, Python, PIPELINING), or
`--sink aiosmtpd` (no PIPELINING, about 0.5-0.7 ms of CPU a message). The clock runs from the launch
(the admin's button: `campaign_launch`, which returns at once) to the last delivery row marked sent.

    export DATABASE_URL=postgres://loyalty@127.0.0.1:55432/loyalty_bench CELERY_BROKER_URL=redis://127.0.0.1:6390/0
    .venv/bin/python bench/bench_campaign_send.py                 # --members 100000 --concurrency 2 --batch 500
    .venv/bin/python bench/bench_campaign_send.py --sink aiosmtpd
    .venv/bin/python bench/bench_campaign_send.py --mark-group 1        # one commit per accepted message
    .venv/bin/python bench/bench_campaign_send.py --members 20000 --profile [--cprofile]   # CPU per message,
                                                                  # in this process, no Celery

It prints messages/s end to end and the CPU per message of the worker (main and pool) and the SMTP server (from
/proc, launch to the end; --profile adds PostgreSQL). It checks afterwards, and exits 1 if not so:
every member has exactly one `sent` delivery, the SMTP server accepted exactly one message per member.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _setup

SINK = r"""
import asyncio, signal, sys
from collections import Counter
from aiosmtpd.controller import Controller

class Counting:
    def __init__(self):
        self.rcpts = Counter()
    async def handle_DATA(self, server, session, envelope):
        for rcpt in envelope.rcpt_tos:
            self.rcpts[rcpt] += 1
        return "250 OK"

handler = Counting()
controller = Controller(handler, hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
def stop(*_):
    controller.stop()
    dup = sum(1 for n in handler.rcpts.values() if n > 1)
    with open(sys.argv[2], "w") as out:
        out.write(f"{sum(handler.rcpts.values())} {len(handler.rcpts)} {dup}")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop)
print("sink ready", flush=True)
signal.pause()
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_line(path: Path, text: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if process.poll() is not None:
            sys.exit(f"{process.args[:4]} exited:\n{path.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)
    sys.exit(f"timed out waiting for {text!r} in {path}")


def postfix_sink_binary() -> tuple[str, dict]:
    """Postfix's `smtp-sink` (the C test server Postfix ships for benchmarking SMTP clients): from PATH, from
    SMTP_SINK_BIN, or unpacked once from Debian's postfix package into var/smtp-sink (no install, no daemon)."""
    env = dict(os.environ)
    found = os.environ.get("SMTP_SINK_BIN") or shutil.which("smtp-sink")
    if found:
        return found, env
    root = Path(_setup.ROOT) / "var" / "smtp-sink"
    binary = root / "usr" / "sbin" / "smtp-sink"
    if not binary.exists():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["apt-get", "download", "postfix"], cwd=root, check=True, capture_output=True)
        deb = next(root.glob("postfix_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    env["LD_LIBRARY_PATH"] = str(root / "usr" / "lib" / "postfix")
    return str(binary), env


def wait_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{process.args[:2]} exited with {process.returncode}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    sys.exit(f"nothing listens on port {port}")


def sink_counts(kind: str, result: Path, log: Path) -> tuple[int, int, int]:
    """(messages accepted, distinct recipients, recipients twice). Postfix's smtp-sink counts messages only
    (`-c`: mesg=N); the distinct recipients are then the database's one 'sent' delivery per member."""
    if kind != "postfix":
        return tuple(int(x) for x in result.read_text().split())
    counters = log.read_text(errors="replace").replace("\r", "\n").split()
    messages = max((int(c[5:]) for c in counters if c.startswith("mesg=")), default=0)
    return messages, messages, 0


def start_sink(kind: str, port: int, result: Path, log: Path) -> subprocess.Popen:
    """The SMTP server on loopback in a process of its own: Postfix's smtp-sink, our light sink (PIPELINING)
    or aiosmtpd."""
    if kind == "postfix":
        binary, env = postfix_sink_binary()
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        sink = subprocess.Popen(
            [binary, "-c", *user, f"127.0.0.1:{port}", "1024"], stdout=log.open("w"), stderr=subprocess.STDOUT, env=env
        )
        wait_port(port, sink)
        return sink
    code = ["-c", SINK] if kind == "aiosmtpd" else [str(Path(__file__).with_name("smtp_sink.py"))]
    sink = subprocess.Popen(
        [sys.executable, *code, str(port), str(result)], stdout=log.open("w"), stderr=subprocess.STDOUT
    )
    wait_line(log, "sink ready", sink)
    return sink


def proc_cpu(pid: int) -> float:
    """User and system CPU seconds of a process so far (from /proc, so also of processes not our children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and all its descendants alive now (the worker and its pool)."""
    total = proc_cpu(pid)
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            total += tree_cpu(int(child))
    return total


def create_campaign():
    from campaigns.models import MessageTemplate, Segment, SegmentRule
    from campaigns.services import campaign_create

    segment = Segment.objects.create(name="Bench: email consent")
    SegmentRule.objects.create(segment=segment, kind="consent", operator="granted", value="email")
    template = MessageTemplate.objects.create(
        name="Bench",
        channel="email",
        subject="{{ first_name|Drogi Kliencie }}, Twoje punkty czekają",
        html=(
            "<h1>Cześć {{ first_name|Kliencie }}!</h1><p>Masz <strong>{{ balance|0 }}</strong> punktów, poziom "
            "{{ tier|Start }}. Do następnego brakuje {{ points_to_next_tier|niewiele }}.</p>"
            '<p><a class="button" href="https://sklep.example.pl/promocje">Zobacz promocje</a></p>'
        ),
        text="Cześć {{ first_name|Kliencie }}! Masz {{ balance|0 }} pkt, poziom {{ tier|Start }}.",
    )
    return campaign_create(name="Bench", channel="email", segment=segment, templates=[(template, 100)])


def profile_batches(args, campaign, port: int, sink: subprocess.Popen) -> None:
    """In this process, without Celery: fan out, then send each batch, measuring the CPU of this process, the
    sink and this connection's PostgreSQL backend per message; cProfile of one batch with --cprofile."""
    import cProfile
    import pstats

    from django.conf import settings
    from django.db import connection

    from campaigns import sending
    from campaigns.models import Campaign

    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.CAMPAIGN_BATCH_SIZE = args.batch
    settings.CAMPAIGN_SENT_MARK_GROUP = args.mark_group
    batches: list[list[int]] = []
    sending.enqueue_send = batches.append
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.SENDING)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    before = (time.process_time(), proc_cpu(backend))
    sending.campaign_fanout(campaign_id=campaign.pk)
    after = (time.process_time(), proc_cpu(backend))
    print(
        f"Fan-out of {args.members:,}: CPU {(after[0] - before[0]) * 1e3 / args.members:.3f} ms a member here, "
        f"{(after[1] - before[1]) * 1e3 / args.members:.3f} ms in PostgreSQL"
    )
    totals = {"worker": 0.0, "sink": 0.0, "postgres": 0.0}
    sent = 0
    for number, batch in enumerate(batches):
        profiler = cProfile.Profile(time.process_time) if args.cprofile and number == 1 else None
        before = (time.process_time(), proc_cpu(sink.pid), proc_cpu(backend))
        if profiler:
            profiler.enable()
        result = sending.deliveries_send(delivery_ids=batch)
        if profiler:
            profiler.disable()
        after = (time.process_time(), proc_cpu(sink.pid), proc_cpu(backend))
        if result["sent"] != len(batch):
            print(f"  batch {number}: {result}")
        if number == 0:
            continue  # the first batch warms the caches (css-inline, imports)
        sent += result["sent"]
        for key, b, a in zip(totals, before, after, strict=True):
            totals[key] += a - b
        if profiler:
            pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "tottime")).print_stats(
                int(os.environ.get("TOP", "25"))
            )
    print(f"{sent:,} messages after the first batch; CPU per message:")
    for key, value in totals.items():
        print(f"  {key:9} {value * 1e3 / max(sent, 1):.3f} ms")
    print(f"  {'total':9} {sum(totals.values()) * 1e3 / max(sent, 1):.3f} ms")


def setup_data(members: int) -> None:
    from django.utils import timezone

    from members.models import ConsentEvent, Member
    from rewards.models import PointsAccount, Tier

    _setup.create_programme()
    ids = _setup.create_members(members)
    now = timezone.now()
    ConsentEvent.objects.bulk_create(
        (
            ConsentEvent(
                member_id=pk, channel="email", purpose="marketing", granted=True, source="import", created_at=now
            )
            for pk in ids
        ),
        batch_size=5000,
    )
    bronze = Tier.objects.get(code="bronze")
    PointsAccount.objects.bulk_create(
        (PointsAccount(member_id=pk, balance=0, tier=bronze) for pk in ids), batch_size=5000
    )
    assert Member.objects.count() == members
    _setup.analyze()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--concurrency", type=int, default=2, help="pool processes of the one worker")
    parser.add_argument("--batch", type=int, default=500, help="recipients per send task")
    parser.add_argument(
        "--sink",
        choices=["postfix", "light", "aiosmtpd"],
        default="postfix",
        help="SMTP server: Postfix's smtp-sink (C, PIPELINING), bench/smtp_sink.py or aiosmtpd",
    )
    parser.add_argument("--mark-group", type=int, default=32, help="accepted messages recorded per UPDATE")
    parser.add_argument("--profile", action="store_true", help="send the batches in this process, CPU per message")
    parser.add_argument("--cprofile", action="store_true", help="with --profile: cProfile of the second batch")
    parser.add_argument("--synchronous-marks", action="store_true", help="each 'sent' mark waits for the WAL flush")
    args = parser.parse_args()
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis://"):
        sys.exit("Set CELERY_BROKER_URL to a Redis, e.g. redis://127.0.0.1:6390/0")

    url = _setup.bootstrap()
    from django.db import connection

    _setup.reset_database(url)
    _setup.print_machine_info()
    with connection.cursor() as cursor:
        for name in ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method"):
            cursor.execute(f"SHOW {name}")
            print(f"  {name:20} {cursor.fetchone()[0]}")
    started = time.perf_counter()
    setup_data(args.members)
    print(f"Set-up: {args.members:,} members with email consent in {time.perf_counter() - started:.1f} s")

    from campaigns.models import Campaign, Delivery
    from campaigns.services import campaign_launch
    from loyalty_site.celery import app

    campaign = create_campaign()

    work = Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    port = free_port()
    sink_log, sink_result = work / "sink.log", work / "sink.txt"
    sink = start_sink(args.sink, port, sink_result, sink_log)
    if args.profile:
        try:
            profile_batches(args, campaign, port, sink)
        finally:
            sink.terminate()
            sink.wait(10)
        return
    env = dict(os.environ)
    env.update(
        {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(port),
            "CAMPAIGN_BATCH_SIZE": str(args.batch),
            "CAMPAIGN_SENT_MARK_SYNCHRONOUS": "1" if args.synchronous_marks else "0",
            "CAMPAIGN_SENT_MARK_GROUP": str(args.mark_group),
            "LOG_LEVEL": "WARNING",
        }
    )
    app.control.purge()
    worker_log = work / "worker.log"
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "loyalty_site",
            "worker",
            "-c",
            str(args.concurrency),
            "-Q",
            "celery",
            "--loglevel=INFO",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=_setup.ROOT,
        env=env,
        stdout=worker_log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_line(worker_log, "ready.", worker)
        print(f"Load average before the launch: {_setup.load_average()}")
        cpu_before = {"worker": tree_cpu(worker.pid), "sink": proc_cpu(sink.pid)}
        t0 = time.perf_counter()
        campaign_launch(campaign=campaign)
        launch_seconds = time.perf_counter() - t0
        print(f"campaign_launch returned in {launch_seconds * 1000:.1f} ms")
        last_print = 0.0
        while True:
            campaign.refresh_from_db()
            if campaign.status == Campaign.Status.SENT:
                break
            if time.perf_counter() - last_print > 5:
                sent = Delivery.objects.filter(campaign=campaign, status="sent").count()
                print(f"  {time.perf_counter() - t0:6.1f} s: {sent:,} sent")
                last_print = time.perf_counter()
            if time.perf_counter() - t0 > 3600:
                sys.exit("not finished within an hour")
            time.sleep(0.5)
        cpu_used = {
            "worker (main and pool)": tree_cpu(worker.pid) - cpu_before["worker"],
            "SMTP sink": proc_cpu(sink.pid) - cpu_before["sink"],
        }
        from django.db.models import Max, Min

        times = Delivery.objects.filter(campaign=campaign, status="sent").aggregate(
            first=Min("sent_at"), last=Max("sent_at")
        )
        sent = Delivery.objects.filter(campaign=campaign, status="sent").count()
        seconds = (times["last"] - campaign.launched_at).total_seconds()
        print(f"Load average at the end: {_setup.load_average()}")
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(60)
        sink.send_signal(signal.SIGTERM)
        sink.wait(30)

    total, recipients, duplicates = sink_counts(args.sink, sink_result, sink_log)
    not_sent = Delivery.objects.filter(campaign=campaign).exclude(status="sent").count()
    print(
        f"\n{sent:,} messages in {seconds:.1f} s from launch to the last marked sent: "
        f"**{sent / seconds:,.0f} messages/s** "
        f"(first sent {(times['first'] - campaign.launched_at).total_seconds():.2f} s "
        f"after the launch)"
    )
    print(
        f"Sink accepted {total:,} messages for {recipients:,} recipients, {duplicates} recipients twice; "
        f"deliveries not sent: {not_sent}"
    )
    print(
        "CPU per message, launch to the last marked sent (from /proc). Not counted: Redis (a shared server) and "
        "PostgreSQL (Celery closes the connection after each task, so its backends are gone before they can be "
        "read: --profile measures PostgreSQL's share)"
    )
    for name, value in cpu_used.items():
        print(f"  {name:36} {value:7.1f} s = {value * 1e3 / max(sent, 1):.3f} ms")
    total_cpu = sum(cpu_used.values())
    print(f"  {'worker and sink':36} {total_cpu:7.1f} s = {total_cpu * 1e3 / max(sent, 1):.3f} ms a message")
    ok = sent == args.members and total == args.members and recipients == args.members and not duplicates
    print("checks:", "OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
