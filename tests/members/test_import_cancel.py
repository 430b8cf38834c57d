"""Hostile files: staff cancel a preview or an import, and the file tasks stop at their time limits.

The background tests run a real `celery worker` (prefork: the pool enforces the time limits) against the test
database, with the limits it reads from its environment, so they need transactional tests and the Redis broker
scripts/test.sh starts. What they prove: a cancelled or time-limited job leaves nothing half-applied (whole
chunks only), stays as it ended, and a second upload is not blocked behind a huge one.
"""

import re
import threading
import time

import pytest
from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.test import Client
from django.urls import reverse

from loyalty_site.files import importing
from loyalty_site.files.importing import import_job_create
from loyalty_site.files.models import ImportJob, ImportRowError
from loyalty_site.files.tasks import import_apply_run, import_apply_task, import_preview_run, import_preview_task
from members.models import ConsentText, Member, Purchase
from rewards.models import LedgerEntry
from rewards.selectors import ledger_mismatches

from .import_admin.support import BROKER, celery_worker, confirm_url, job_url, latest_job, members_csv, upload

pytestmark = pytest.mark.usefixtures("_media_and_language")

CHUNK = importing.CHUNK_SIZE


@pytest.fixture
def _media_and_language(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.LANGUAGE_CODE = "en"


def cancel_url(job) -> str:
    return reverse("admin:files_importjob_cancel", args=[job.pk])


def staff(username: str, *codenames: str):
    user = get_user_model().objects.create_user(username=username, password="x", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return get_user_model().objects.get(pk=user.pk)  # without the cached permissions


def logged_in(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def purchases_csv(members, rows: int) -> bytes:
    lines = ["purchase_id;member_number;purchased_at;amount"] + [
        f"C-{n:06d};{members[n % len(members)].member_number};01.10.2026 12:00;{10 + n % 90},50" for n in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


def previewed_purchases(client, members, rows: int) -> ImportJob:
    """A purchases file uploaded through the admin (queued for the worker) and previewed here, so that only the
    import runs in the worker under its time limit."""
    upload(client, purchases_csv(members, rows), name="zakupy.csv", kind="purchases", source="pos")
    job = latest_job()
    job = import_preview_run(job.pk)
    assert (job.status, job.counts) == ("previewed", {"new": rows}), job.error_message
    return job


def assert_whole_chunks_applied(job: ImportJob) -> None:
    """Exactly the committed chunks' purchases are in, each with its points, and every balance is the ledger's."""
    job.refresh_from_db()
    assert job.processed_rows % CHUNK == 0 or job.processed_rows == job.total_rows
    assert Purchase.objects.count() == job.processed_rows
    assert LedgerEntry.objects.filter(reference=f"import:{job.pk}").count() == job.processed_rows
    assert ledger_mismatches() == []


def time_limits(settings, soft: int, hard: int) -> dict:
    """The file tasks' limits for the tasks this process sends (the message carries them) and for the worker."""
    settings.FILE_TASK_SOFT_TIME_LIMIT, settings.FILE_TASK_TIME_LIMIT = soft, hard
    # The worker writes the job's messages in its language: the tests read them in English.
    return {"FILE_TASK_SOFT_TIME_LIMIT": str(soft), "FILE_TASK_TIME_LIMIT": str(hard), "LANGUAGE_CODE": "en"}


def wait_until(condition, worker, tmp_path, *, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        if worker.poll() is not None:
            break
        time.sleep(0.05)
    log = (tmp_path / "worker.log").read_text()[-3000:]
    pytest.fail(f"{what} did not happen in {timeout} s. Worker log:\n{log}")


def tasks_ended(tmp_path, task) -> int:
    """How many runs of `task` the worker finished (succeeded or failed), from its log."""
    return len(
        re.findall(rf"{re.escape(task.name)}\[[0-9a-f-]+\] (succeeded|raised)", (tmp_path / "worker.log").read_text())
    )


def status_of(job: ImportJob) -> str:
    job.refresh_from_db()
    return job.status


def needs_worker(test):
    """A test with a real worker: marked `concurrency`, and skipped without the Redis broker of scripts/test.sh."""
    test = pytest.mark.concurrency(test)
    return pytest.mark.skipif(not BROKER.startswith("redis://"), reason="needs the Redis broker")(test)


@pytest.fixture
def owner(transactional_db):
    ConsentText.objects.create(channel="email", purpose="marketing", version="1.0", text="Zgoda")
    return get_user_model().objects.create_superuser(username="owner", password="x", email="o@example.pl")


@pytest.fixture
def background(monkeypatch):
    # Every upload of these tests goes to the worker, as a big file would.
    monkeypatch.setattr(importing.uploads, "BACKGROUND_THRESHOLD_BYTES", 100)


# --- Cancelling in the background ---------------------------------------------------------------------------


@pytest.mark.usefixtures("background")
@needs_worker
def test_a_cancelled_preview_stops_and_records_nothing_more(owner, settings, tmp_path, monkeypatch):
    client = logged_in(owner)
    bad = dict.fromkeys(range(2, 120000, 7), "email=jan.kowalski@")
    with celery_worker(settings, tmp_path, monkeypatch, "--pool=prefork", "--concurrency=1") as worker:
        upload(client, members_csv(120_000, bad=bad))
        job = latest_job()
        wait_until(
            lambda: status_of(job) == "previewing" and job.previewed_rows >= CHUNK,
            worker,
            tmp_path,
            timeout=30,
            what="the preview's first chunk",
        )
        response = client.post(cancel_url(job))
        assert response.status_code == 302
        job.refresh_from_db()
        checked, errors = job.previewed_rows, ImportRowError.objects.filter(job=job).count()
        assert job.status == "cancelled" and 0 < checked < 120_000
        wait_until(lambda: tasks_ended(tmp_path, import_preview_task), worker, tmp_path, timeout=30, what="the end")

    job.refresh_from_db()
    assert (job.status, job.previewed_rows, job.claim) == ("cancelled", checked, "")
    assert ImportRowError.objects.filter(job=job).count() == errors
    assert job.options["cancelled_by"] == owner.pk
    assert Member.objects.count() == 0
    page = client.get(job_url(job)).content.decode()
    assert "Cancelled by owner" in page and "nothing had been imported" in page
    assert 'data-testid="confirm-import"' not in page and 'data-testid="cancel-import"' not in page


@pytest.mark.usefixtures("background")
@needs_worker
def test_a_cancelled_import_keeps_its_committed_chunks_only_and_stays_cancelled(
    owner, settings, tmp_path, monkeypatch, program, make_member
):
    members = [make_member() for _ in range(20)]
    client = logged_in(owner)
    rows = 18_000
    job = previewed_purchases(client, members, rows)
    env = {"IMPORT_WORKERS": "1"}  # chunk by chunk, each with the checkpoint
    with celery_worker(settings, tmp_path, monkeypatch, "--pool=prefork", "--concurrency=1", env=env) as worker:
        client.post(confirm_url(job))
        wait_until(
            lambda: status_of(job) == "importing" and job.processed_rows >= CHUNK,
            worker,
            tmp_path,
            timeout=30,
            what="the import's first chunk",
        )
        assert client.post(cancel_url(job)).status_code == 302
        wait_until(lambda: tasks_ended(tmp_path, import_apply_task), worker, tmp_path, timeout=30, what="the end")

    job.refresh_from_db()
    assert job.status == "cancelled" and CHUNK <= job.processed_rows < rows
    assert_whole_chunks_applied(job)
    imported = job.processed_rows
    page = client.get(job_url(job)).content.decode()
    assert "Cancelled by owner at" in page and f"{imported} of {rows} rows had been imported" in page

    # The task delivered again, the preview's too: nothing more is imported, the job stays cancelled.
    import_apply_task.apply(args=[job.pk])
    import_preview_task.apply(args=[job.pk])
    job.refresh_from_db()
    assert (job.status, job.processed_rows) == ("cancelled", imported)
    assert_whole_chunks_applied(job)


# --- Time limits ------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("background")
@needs_worker
def test_an_import_stopped_by_its_time_limit_keeps_whole_chunks_and_continues_when_started_again(
    owner, settings, tmp_path, monkeypatch, program, make_member
):
    members = [make_member() for _ in range(20)]
    client = logged_in(owner)
    rows = 18_000
    job = previewed_purchases(client, members, rows)
    env = {"IMPORT_WORKERS": "1", **time_limits(settings, soft=1, hard=30)}
    with celery_worker(settings, tmp_path, monkeypatch, "--pool=prefork", "--concurrency=1", env=env) as worker:
        client.post(confirm_url(job))
        wait_until(lambda: status_of(job) == "failed", worker, tmp_path, timeout=30, what="the time limit")
        assert job.processed_rows < rows
        assert job.error_message == (
            f"The import stopped after the time limit of 1 minute, after {job.processed_rows} of {rows} rows; "
            "those rows were imported. Start it again to continue."
        )
        assert_whole_chunks_applied(job)
        assert "Continue the import" in client.get(job_url(job)).content.decode()

        for _attempt in range(10):  # each run has the time limit again, and continues at the checkpoint
            before = job.processed_rows
            client.post(confirm_url(job), {"action": "restart"})
            wait_until(lambda: status_of(job) in ("failed", "done"), worker, tmp_path, timeout=30, what="a run")
            assert_whole_chunks_applied(job)
            if job.status == "done":
                break
            assert job.processed_rows > before
    assert job.status == "done" and job.options["applied"] == {"new": rows}
    assert_whole_chunks_applied(job)


def commit_answered_late(job: ImportJob, position: int):
    """The seam where the soft time limit strikes in production: the worker has sent the COMMIT of the chunk that
    moves the checkpoint to `position`, and SoftTimeLimitExceeded interrupts it while it waits for the answer. The
    worker drops that connection (tasks.fresh_connection) and carries on with a new one, while the server still
    commits the chunk, holding the job's row until then. Here the server's "later" is when another connection
    waits for that row, or after a few seconds if none does."""
    wrapper = connections["default"]
    real_commit = wrapper._commit
    committers: list[threading.Thread] = []

    def commit_later(raw) -> None:
        try:
            deadline = time.monotonic() + 5
            with connections["default"].cursor() as watcher:  # this thread's own connection
                while time.monotonic() < deadline:
                    watcher.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND pid <> %s",
                        [raw.info.backend_pid],
                    )
                    if watcher.fetchone()[0]:
                        break
                    time.sleep(0.01)
            raw.commit()
        finally:
            raw.close()
            connections["default"].close()

    def interrupted_commit() -> None:
        with wrapper.cursor() as cursor:  # the transaction's own view of the job
            cursor.execute("SELECT processed_rows FROM members_importjob WHERE id = %s", [job.pk])
            (processed,) = cursor.fetchone()
        if processed != position or committers:
            return real_commit()
        raw = wrapper.connection
        wrapper.closed_in_transaction = True  # gone for this process: the next query opens a new connection
        committers.append(threading.Thread(target=commit_later, args=(raw,)))
        committers[0].start()
        raise SoftTimeLimitExceeded()

    return interrupted_commit, committers


@pytest.mark.concurrency
def test_the_soft_time_limit_striking_while_a_chunk_commits_keeps_its_rows_counted(
    owner, settings, monkeypatch, program, make_member
):
    """The counts of the committed chunks stay exact whatever the point the time limit strikes, here the worst:
    after the chunk's COMMIT was sent and before its answer (the stop must not write the job over from before)."""
    members = [make_member() for _ in range(20)]
    rows = 3 * CHUNK
    settings.IMPORT_WORKERS = 1  # chunk by chunk, each with the checkpoint
    settings.FILE_TASK_SOFT_TIME_LIMIT = 60
    job = import_job_create(
        kind="purchases",
        file=SimpleUploadedFile("zakupy.csv", purchases_csv(members, rows)),
        name="zakupy.csv",
        user=owner,
        options={"source": "pos"},
    )
    job = import_preview_run(job.pk)
    assert (job.status, job.counts) == ("previewed", {"new": rows}), job.error_message
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.IMPORTING)  # confirmed, in the worker

    interrupted_commit, committers = commit_answered_late(job, position=2 * CHUNK)
    monkeypatch.setattr(connections["default"], "_commit", interrupted_commit)
    job = import_apply_run(job.pk)  # what the worker's task runs
    monkeypatch.undo()
    assert committers, "the second chunk's commit was not interrupted"
    committers[0].join()

    job.refresh_from_db()
    assert (job.status, job.processed_rows) == ("failed", 2 * CHUNK)
    assert job.options["applied"] == {"new": 2 * CHUNK}
    assert job.error_message == (
        f"The import stopped after the time limit of 1 minute, after {2 * CHUNK} of {rows} rows; "
        "those rows were imported. Start it again to continue."
    )
    assert_whole_chunks_applied(job)

    # Staff continue it (the task runs here rather than in a worker): the rest is imported, each row counted once.
    monkeypatch.setattr(import_apply_task, "delay_on_commit", lambda job_id: import_apply_task.apply(args=[job_id]))
    logged_in(owner).post(confirm_url(job), {"action": "restart"})
    job.refresh_from_db()
    assert (job.status, job.processed_rows, job.options["applied"]) == ("done", rows, {"new": rows})
    assert_whole_chunks_applied(job)


@pytest.mark.usefixtures("background")
@needs_worker
def test_an_import_killed_at_the_hard_time_limit_fails_instead_of_importing_for_ever(
    owner, settings, tmp_path, monkeypatch, program, make_member
):
    members = [make_member() for _ in range(20)]
    client = logged_in(owner)
    rows = 18_000
    job = previewed_purchases(client, members, rows)
    # No soft limit (0): the pool kills the process at the hard one, in the middle of a chunk.
    env = {"IMPORT_WORKERS": "1", **time_limits(settings, soft=0, hard=1)}
    with celery_worker(settings, tmp_path, monkeypatch, "--pool=prefork", "--concurrency=1", env=env) as worker:
        client.post(confirm_url(job))
        wait_until(lambda: status_of(job) == "failed", worker, tmp_path, timeout=30, what="the hard time limit")
        assert "Hard time limit" in (tmp_path / "worker.log").read_text()
    assert job.processed_rows < rows
    assert job.error_message.startswith("The import stopped after the time limit of 1 minute, after ")
    assert job.options["stopped_during"] == "import"
    assert_whole_chunks_applied(job)


@pytest.mark.usefixtures("background")
@needs_worker
def test_a_second_upload_is_not_blocked_by_a_huge_file_on_the_only_worker(owner, settings, tmp_path, monkeypatch):
    client = logged_in(owner)
    colleague = staff("colleague", "add_member")
    env = time_limits(settings, soft=2, hard=10)
    with celery_worker(settings, tmp_path, monkeypatch, "--pool=prefork", "--concurrency=1", env=env) as worker:
        upload(client, members_csv(400_000), name="bomba.csv")  # more than the whole wait below to check
        huge = latest_job()
        upload(logged_in(colleague), members_csv(30, start=500_000), name="maly.csv")
        small = latest_job()
        assert small != huge
        wait_until(lambda: status_of(small) == "previewed", worker, tmp_path, timeout=20, what="the second preview")
    huge.refresh_from_db()
    assert huge.status == "failed" and 0 < huge.previewed_rows < 400_000
    assert huge.error_message == (
        f"The check of the file took longer than the time limit of 1 minute, so it was stopped after "
        f"{huge.previewed_rows} rows; nothing was imported. Split the file into smaller files and upload them."
    )
    assert "stopped_during" not in huge.options  # checking it again would stop again: no button offers it
    assert small.counts == {"new": 30}


# --- The cancel button ----------------------------------------------------------------------------------------


@pytest.fixture
def previewed_job(db):
    ConsentText.objects.create(channel="email", purpose="marketing", version="1.0", text="Zgoda")
    uploader = staff("uploader", "add_member")
    job = import_job_create(
        kind="members",
        file=SimpleUploadedFile("czlonkowie.csv", members_csv(3)),
        name="czlonkowie.csv",
        user=uploader,
        options={"consent_version": "1.0"},
    )
    job = import_preview_run(job.pk)
    assert job.status == "previewed"
    return job


def test_the_job_page_offers_cancel_and_asks_to_confirm(previewed_job):
    client = logged_in(previewed_job.created_by)
    page = client.get(job_url(previewed_job)).content.decode()
    assert f'href="{cancel_url(previewed_job)}"' in page
    confirm = client.get(cancel_url(previewed_job))
    assert confirm.status_code == 200
    text = confirm.content.decode()
    assert (
        'method="post"' in text and "csrfmiddlewaretoken" in text and "Nothing of this file has been imported" in text
    )
    previewed_job.refresh_from_db()
    assert previewed_job.status == "previewed"  # asking changes nothing


def test_cancel_without_the_csrf_token_is_refused(previewed_job):
    client = logged_in(previewed_job.created_by, enforce_csrf_checks=True)
    assert client.post(cancel_url(previewed_job)).status_code == 403
    previewed_job.refresh_from_db()
    assert previewed_job.status == "previewed"


def test_staff_without_the_import_permission_cannot_cancel_anothers_import(previewed_job):
    stranger = staff("stranger", "view_member")
    assert logged_in(stranger).post(cancel_url(previewed_job)).status_code == 403
    assert logged_in(stranger).get(cancel_url(previewed_job)).status_code == 403
    previewed_job.refresh_from_db()
    assert previewed_job.status == "previewed"


def test_the_uploader_cancels_and_the_page_says_who_and_offers_nothing_more(previewed_job):
    client = logged_in(previewed_job.created_by)
    response = client.post(cancel_url(previewed_job), follow=True)
    previewed_job.refresh_from_db()
    assert previewed_job.status == "cancelled" and previewed_job.finished_at
    page = response.content.decode()
    assert "The import was cancelled" in page
    assert "Cancelled by uploader at" in page and "nothing had been imported" in page
    assert 'data-testid="confirm-import"' not in page and 'data-testid="cancel-import"' not in page
    assert Member.objects.count() == 0

    # The progress fragment a page still open sends stops polling and reloads the page.
    fragment = client.get(job_url(previewed_job), {"from": "previewing"}, HTTP_HX_REQUEST="true")
    assert fragment["HX-Refresh"] == "true" and "hx-trigger" not in fragment.content.decode()

    # Confirming now imports nothing; cancelling again says why not.
    client.post(confirm_url(previewed_job))
    again = client.post(cancel_url(previewed_job), follow=True)
    assert Member.objects.count() == 0
    previewed_job.refresh_from_db()
    assert previewed_job.status == "cancelled"
    assert "errornote" in again.content.decode() or again.context["messages"]


def test_staff_who_may_import_the_kind_cancel_a_colleagues_import(previewed_job):
    colleague = staff("colleague", "add_member")
    assert logged_in(colleague).post(cancel_url(previewed_job)).status_code == 302
    previewed_job.refresh_from_db()
    assert previewed_job.status == "cancelled" and previewed_job.options["cancelled_by"] == colleague.pk


def test_a_done_import_has_no_cancel(previewed_job):
    client = logged_in(previewed_job.created_by)
    client.post(confirm_url(previewed_job))
    previewed_job.refresh_from_db()
    assert previewed_job.status == "done"
    assert 'data-testid="cancel-import"' not in client.get(job_url(previewed_job)).content.decode()
    client.post(cancel_url(previewed_job))
    previewed_job.refresh_from_db()
    assert previewed_job.status == "done" and Member.objects.count() == 3
