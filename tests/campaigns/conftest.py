"""Campaign fixtures: an SMTP sink on loopback (aiosmtpd), a real Celery worker subprocess, consenting members."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from email import message_from_bytes
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from aiosmtpd.controller import Controller
from django.db import connection

from campaigns.models import MessageTemplate, Segment, SegmentRule
from members.models import Channel
from members.services import consent_record

ROOT = Path(__file__).resolve().parents[2]


class SinkHandler:
    """Records every message it accepts. `fail` makes it refuse with 451 (a temporary failure); `hold_at` makes
    the n-th DATA wait (before accepting) until `release` is set, so a test can kill the sender right there."""

    def __init__(self):
        self.messages: list = []
        self.lock = threading.Lock()
        self.fail = False
        self.hold_at: int | None = None
        self.held = threading.Event()
        self.release = threading.Event()
        self.data_count = 0

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        with self.lock:
            self.data_count += 1
            number = self.data_count
        if self.fail:
            return "451 4.3.0 Try again later"
        if self.hold_at is not None and number == self.hold_at:
            self.held.set()
            while not self.release.is_set():
                await asyncio.sleep(0.02)
            # A server that lost its client before answering has not accepted the message.
            if server.transport is None or server.transport.is_closing():
                return "421 connection lost"
            await asyncio.sleep(0.2)
            if server.transport is None or server.transport.is_closing():
                return "421 connection lost"
        message = message_from_bytes(envelope.content)
        with self.lock:
            self.messages.append((tuple(envelope.rcpt_tos), message))
        return "250 OK"

    def per_recipient(self) -> Counter:
        with self.lock:
            return Counter(rcpt for rcpts, _ in self.messages for rcpt in rcpts)


def _light_sink():
    """bench/smtp_sink.py: a small asyncio SMTP server that offers PIPELINING, so the sender's pipelined path runs."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_smtp_sink", ROOT / "bench" / "smtp_sink.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SmtpSink(keep=message_from_bytes).start_in_thread()


@pytest.fixture
def smtp_sink(request):
    """aiosmtpd (no PIPELINING: the sender talks one command at a time), or with
    `@pytest.mark.parametrize("smtp_sink", ["aiosmtpd", "pipelining"], indirect=True)` also our light sink."""
    if getattr(request, "param", "aiosmtpd") == "pipelining":
        sink = _light_sink()
        yield sink
        sink.stop()
        return
    handler = SinkHandler()
    with socket.socket() as probe:  # a free port (aiosmtpd's start() cannot use port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    handler.port = port
    yield handler
    handler.release.set()
    controller.stop()


@pytest.fixture
def smtp_settings(settings, smtp_sink):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = smtp_sink.port
    settings.EMAIL_USE_TLS = False
    return settings


def _test_database_url() -> str:
    url = urlsplit(os.environ["DATABASE_URL"])
    return url._replace(path="/" + connection.settings_dict["NAME"]).geturl()


class Worker:
    """A real `celery -A loyalty_site worker` on the test database and the test Redis."""

    def __init__(self, env: dict, log: Path):
        self.env = env
        self.log = log
        self.process: subprocess.Popen | None = None

    def start(self, concurrency: int = 2) -> None:
        self.log.write_bytes(b"")
        out = self.log.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "loyalty_site",
                "worker",
                "-c",
                str(concurrency),
                "-P",
                "prefork",
                "--loglevel=INFO",
                "--without-heartbeat",
                "--without-gossip",
                "--without-mingle",
                "-Q",
                "celery",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if b"ready." in self.log.read_bytes():
                return
            if self.process.poll() is not None:
                raise RuntimeError(self.log.read_text()[-3000:])
            time.sleep(0.2)
        raise RuntimeError("the Celery worker did not start:\n" + self.log.read_text()[-3000:])

    def kill(self) -> None:
        """SIGKILL the worker and its pool, as a crash or an OOM killer would."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.log.write_bytes(b"")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@pytest.fixture
def celery_worker(transactional_db, smtp_sink, smtp_settings, tmp_path):
    from loyalty_site.celery import app

    app.control.purge()
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": _test_database_url(),
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": str(smtp_sink.port),
            "CAMPAIGN_LEASE_SECONDS": "3",
            "CAMPAIGN_RETRY_BASE_SECONDS": "0.3",
            "CAMPAIGN_MAX_ATTEMPTS": "3",
            "CAMPAIGN_BATCH_SIZE": "10",
            "SMS_BACKEND": "outbox",
            "LOG_LEVEL": "WARNING",
        }
    )
    worker = Worker(env, tmp_path / "worker.log")
    worker.start()
    yield worker
    worker.stop()
    app.control.purge()


@pytest.fixture
def campaign_settings(settings):
    """The same short lease and backoff in this process as in the worker."""
    settings.CAMPAIGN_LEASE_SECONDS = 3
    settings.CAMPAIGN_RETRY_BASE_SECONDS = 0.3
    settings.CAMPAIGN_MAX_ATTEMPTS = 3
    settings.CAMPAIGN_BATCH_SIZE = 10
    return settings


def wait_for(condition, timeout: float = 60, message: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {message}")


@pytest.fixture
def consenting(make_member):
    """Members with email and SMS marketing consent (and a switch for those without)."""

    def make(n: int, *, email: bool = True, sms: bool = True, profiling: bool = False, **fields):
        members = []
        for _ in range(n):
            member = make_member(**fields)
            if email:
                consent_record(member=member, channel=Channel.EMAIL, purpose="marketing", granted=True, source="admin")
            if sms:
                consent_record(member=member, channel=Channel.SMS, purpose="marketing", granted=True, source="admin")
            if profiling:
                consent_record(member=member, channel=Channel.EMAIL, purpose="profiling", granted=True, source="admin")
            members.append(member)
        return members

    return make


@pytest.fixture
def everyone_segment(db):
    segment = Segment.objects.create(name="Everyone with an email")
    SegmentRule.objects.create(segment=segment, kind="consent", operator="granted", value="email")
    return segment


@pytest.fixture
def email_template(db):
    return MessageTemplate.objects.create(
        name="Newsletter",
        channel=Channel.EMAIL,
        subject="Cześć {{ first_name|Kliencie }}",
        html='<h1>Witaj {{ first_name|Kliencie }}</h1><p>Masz {{ balance|0 }} pkt.</p><p><a href="https://shop.example.pl/">Sklep</a></p>',
        text="Witaj {{ first_name|Kliencie }}, masz {{ balance|0 }} pkt.",
    )


@pytest.fixture
def sms_template(db):
    return MessageTemplate.objects.create(
        name="SMS promo", channel=Channel.SMS, text="Cześć {{ first_name|Kliencie }}! Promocja -20% do niedzieli."
    )


@pytest.fixture(autouse=True)
def _english(english):
    """These tests read the messages in English, as written (the Polish is checked by the catalogue test)."""
    return english
