"""Helpers of the import admin tests (their fixtures are in conftest.py)."""

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from loyalty_site.files.importing import import_job_create
from loyalty_site.files.models import ImportJob

UPLOAD = "admin:files_importjob_upload"


CHANGELIST = "admin:files_importjob_changelist"


HEADER = "member_number;first_name;last_name;email;phone;city;consent_email_marketing"


SCRIPT = "<script>alert(1)</script>"


def members_csv(n: int, bad: dict[int, str] | None = None, start: int = 0) -> bytes:
    """`n` members; `bad` maps a file line (2 = first row) to "column=value"."""
    columns = HEADER.split(";")
    lines = [HEADER]
    for i in range(start, start + n):
        row = [f"{2100000000 + i}", "Zofia", f"Wójcik{i}", f"zofia{i}@example.pl", f"60{i:07d}", "Łódź", "tak"]
        line = i - start + 2
        if bad and line in bad:
            column, value = bad[line].split("=", 1)
            row[columns.index(column)] = value
        lines.append(";".join(row))
    return ("\n".join(lines) + "\n").encode()


def upload(client, content: bytes, name: str = "czlonkowie.csv", **data):
    fields = {"kind": "members", "consent_version": "1.0", "file": SimpleUploadedFile(name, content), **data}
    return client.post(reverse(UPLOAD), fields)


def job_url(job) -> str:
    return reverse("admin:files_importjob_change", args=[job.pk])


def confirm_url(job) -> str:
    return reverse("admin:files_importjob_confirm", args=[job.pk])


def latest_job() -> ImportJob:
    return ImportJob.objects.latest("id")


def page_text(response) -> str:
    return response.content.decode()


def message_texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def job_for(content: bytes, client, **options) -> ImportJob:
    user = get_user_model().objects.get(pk=client.session["_auth_user_id"])
    return import_job_create(
        kind="members",
        file=SimpleUploadedFile("czlonkowie.csv", content),
        name="czlonkowie.csv",
        user=user,
        options={"consent_version": "1.0", **options},
    )


def job_for_user(content: bytes, user, kind: str = "members") -> ImportJob:
    return import_job_create(
        kind=kind,
        file=SimpleUploadedFile("plik.csv", content),
        name="plik.csv",
        user=user,
        options={"consent_version": "1.0"} if kind == "members" else {},
    )


BROKER = os.environ.get("CELERY_BROKER_URL", "")


@contextmanager
def celery_worker(settings, tmp_path, monkeypatch, *options: str, env: dict | None = None):
    """A `celery worker` process against the test database, stopped afterwards. It consumes queues of its own:
    one for the default queue and one for the queue "files" (the settings route the file tasks there), as a
    production worker consumes `-Q celery,files`. `env`: more environment for the worker (its time limits)."""
    from loyalty_site.celery import app

    queue = f"imports-test-{os.getpid()}-{tmp_path.name}"
    files_queue = f"{queue}-files"
    monkeypatch.setattr(app.conf, "task_default_queue", queue)
    routes = {
        name: {**route, "queue": files_queue} if route.get("queue") == "files" else route
        for name, route in (app.conf.task_routes or {}).items()
    }
    monkeypatch.setattr(app.conf, "task_routes", routes)
    # Celery prepares its routes once and keeps its router: make it read the routes above (restored after).
    monkeypatch.setattr(app.amqp, "_rtable", None)
    monkeypatch.delattr(app.amqp, "router", raising=False)
    database = {**settings.DATABASES["default"], "NAME": connection.settings_dict["NAME"]}
    url = f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "IMPORT_WORKERS": "2",
        **(env or {}),
    }
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = database["PASSWORD"]
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [
            *(sys.executable, "-m", "celery", "-A", "loyalty_site", "worker", *options),
            *("-Q", f"{queue},{files_queue}", "-l", "INFO"),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        yield worker
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=5)
        log.close()


def wait_for(job: ImportJob, status: str, worker, tmp_path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.status == status:
            return
        if job.status == "failed" or worker.poll() is not None:
            break
        time.sleep(0.2)
    worker_log = (tmp_path / "worker.log").read_text()[-3000:]
    pytest.fail(f"the job is '{job.status}' ({job.error_message}), not '{status}'. Worker log:\n{worker_log}")
