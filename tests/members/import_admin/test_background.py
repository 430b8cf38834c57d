"""Imports in the background: tasks, the broker down, unexpected errors, the htmx progress, a real worker."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from loyalty_site.files import importing
from loyalty_site.files.importing import import_job_create, import_preview
from loyalty_site.files.models import ImportJob
from loyalty_site.files.tasks import import_apply_task, import_preview_task
from members import resources
from members.models import ConsentText, Member
from tests.factories import StaffFactory, SuperuserFactory

from .support import (
    BROKER,
    celery_worker,
    confirm_url,
    job_for,
    job_url,
    latest_job,
    members_csv,
    message_texts,
    page_text,
    upload,
    wait_for,
)


def test_a_big_file_is_previewed_and_imported_by_the_tasks(
    admin_client_, consent_text, monkeypatch, eager_celery, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(importing.uploads, "BACKGROUND_THRESHOLD_BYTES", 100)
    with django_capture_on_commit_callbacks() as sent:
        upload(admin_client_, members_csv(30))
    job = latest_job()
    assert job.status == ImportJob.Status.QUEUED and len(sent) == 1  # queued after commit, not run in the request
    queued = page_text(admin_client_.get(job_url(job)))
    assert 'hx-trigger="every 1s"' in queued
    for callback in sent:
        callback()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PREVIEWED and job.counts == {"new": 30}

    with django_capture_on_commit_callbacks() as sent:
        admin_client_.post(confirm_url(job))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.IMPORTING and Member.objects.count() == 0
    for callback in sent:
        callback()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE and Member.objects.count() == 30


def test_confirming_twice_queues_the_import_once(
    admin_client_, consent_text, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(importing.uploads, "BACKGROUND_THRESHOLD_BYTES", 100)
    job = import_preview(job=job_for(members_csv(3), admin_client_))

    with django_capture_on_commit_callbacks() as sent:
        first = admin_client_.post(confirm_url(job))
        second = admin_client_.post(confirm_url(job))

    assert first.status_code == second.status_code == 302
    assert len(sent) == 1
    assert any("already been started" in text for text in message_texts(second))


def test_when_the_broker_is_down_the_job_waits_with_a_message_and_can_be_started_again(
    admin_client_, consent_text, monkeypatch, eager_celery, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    monkeypatch.setattr(importing.uploads, "BACKGROUND_THRESHOLD_BYTES", 100)

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(import_preview_task, "delay_on_commit", broker_down)
    response = upload(admin_client_, members_csv(3))

    job = latest_job()
    assert response.status_code == 302
    assert job.status == "failed" and "background worker could not be reached" in job.error_message
    page = page_text(admin_client_.get(job_url(job)))
    assert "Connection refused" not in page and "Check the file again" in page

    monkeypatch.undo()
    monkeypatch.setattr(importing.uploads, "BACKGROUND_THRESHOLD_BYTES", 100)
    with django_capture_on_commit_callbacks(execute=True):
        admin_client_.post(confirm_url(job), {"action": "restart"})
    job.refresh_from_db()
    assert job.status == "previewed" and job.counts == {"new": 3}


def test_tasks_do_nothing_for_a_job_that_is_done(admin_client_, consent_text):
    job = import_preview(job=job_for(members_csv(2), admin_client_))
    import_apply_task.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.status == "done" and Member.objects.count() == 2
    finished = job.finished_at

    import_apply_task.apply(args=[job.pk])
    import_preview_task.apply(args=[job.pk])
    import_apply_task.apply(args=[999_999])

    job.refresh_from_db()
    assert (job.status, job.finished_at, Member.objects.count()) == ("done", finished, 2)


def test_an_unexpected_error_stops_the_import_with_a_message_and_it_can_continue(
    admin_client_, consent_text, monkeypatch, caplog
):
    job = import_preview(job=job_for(members_csv(4), admin_client_))
    original = resources.MemberImport.apply

    def broken(self, outcomes, *, job):
        raise RuntimeError("database hiccup")

    monkeypatch.setattr(resources.MemberImport, "apply", broken)
    import_apply_task.apply(args=[job.pk])

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert job.error_message.startswith("The import stopped unexpectedly after 0 of 4 rows")
    assert "Start it again" in job.error_message
    assert "database hiccup" in caplog.text  # the traceback is logged ...
    page = page_text(admin_client_.get(job_url(job)))
    assert "database hiccup" not in page and "Traceback" not in page  # ... and never shown
    assert "Continue the import" in page

    monkeypatch.setattr(resources.MemberImport, "apply", original)
    admin_client_.post(confirm_url(job), {"action": "restart"})

    job.refresh_from_db()
    assert (job.status, job.error_message, Member.objects.count()) == ("done", "", 4)


def test_an_unexpected_error_in_the_preview_can_be_checked_again(admin_client_, consent_text, monkeypatch):
    job = job_for(members_csv(2), admin_client_)
    original = resources.MemberImport.prepare
    monkeypatch.setattr(resources.MemberImport, "prepare", lambda self, rows, *, job, seen: 1 / 0)
    import_preview_task.apply(args=[job.pk])
    job.refresh_from_db()
    assert job.status == "failed" and "nothing was imported" in job.error_message

    monkeypatch.setattr(resources.MemberImport, "prepare", original)
    admin_client_.post(confirm_url(job), {"action": "restart"})

    job.refresh_from_db()
    assert job.status == "previewed" and job.counts == {"new": 2}


def test_htmx_request_to_the_job_page_returns_only_the_progress_fragment(admin_client_, consent_text):
    job = job_for(members_csv(2), admin_client_)  # queued: nothing has picked it up

    response = admin_client_.get(job_url(job), {"from": "queued"}, HTTP_HX_REQUEST="true")

    text = page_text(response)
    assert response.status_code == 200
    assert text.startswith('<div id="import-progress"')
    assert "<html" not in text and "breadcrumbs" not in text
    assert 'hx-trigger="every 1s"' in text
    assert f'hx-get="{job_url(job)}?from=queued"' in text
    assert "HX-Refresh" not in response


def test_progress_fragment_stops_polling_and_reloads_the_page_when_done(admin_client_, consent_text):
    job = import_preview(job=job_for(members_csv(2), admin_client_))
    admin_client_.post(confirm_url(job))

    response = admin_client_.get(job_url(job), {"from": "importing"}, HTTP_HX_REQUEST="true")

    text = page_text(response)
    assert 'data-status="done"' in text
    assert "hx-trigger" not in text and "hx-get" not in text
    assert response["HX-Refresh"] == "true"


def test_the_full_page_polls_while_the_file_is_being_checked(admin_client_, consent_text):
    job = job_for(members_csv(2), admin_client_)
    ImportJob.objects.filter(pk=job.pk).update(status="previewing", previewed_rows=2000)

    text = page_text(admin_client_.get(job_url(job)))

    assert 'hx-trigger="every 1s"' in text and "2000 rows checked so far" in text
    assert "<html" in text


@pytest.mark.concurrency
@pytest.mark.skipif(not BROKER.startswith("redis://"), reason="needs the Redis broker scripts/test.sh starts")
def test_a_real_worker_previews_and_imports_a_big_file(transactional_db, client, settings, tmp_path, monkeypatch):
    """The upload and confirm queue tasks; a `celery worker` process against the test database runs them."""
    from kombu.exceptions import VersionMismatch

    from loyalty_site.celery import app

    try:
        with app.connection_for_write() as broker:
            broker.ensure_connection(max_retries=1)
    except VersionMismatch as exc:
        pytest.fail(f"Celery cannot talk to Redis, so no background import would ever run: {exc}")
    user = SuperuserFactory(username="worker-admin")
    ConsentText.objects.create(channel="email", purpose="marketing", version="1.0", text="Zgoda")
    client.force_login(user)
    monkeypatch.setattr(importing.uploads, "BACKGROUND_THRESHOLD_BYTES", 100)
    with celery_worker(settings, tmp_path, monkeypatch, "--pool=solo") as worker:
        upload(client, members_csv(40))
        job = latest_job()
        wait_for(job, "previewed", worker, tmp_path)
        client.post(confirm_url(job))
        wait_for(job, "done", worker, tmp_path)
        assert Member.objects.count() == 40


@pytest.mark.concurrency
@pytest.mark.skipif(not BROKER.startswith("redis://"), reason="needs the Redis broker scripts/test.sh starts")
def test_a_prefork_worker_posts_a_big_purchases_file_in_forked_processes(
    transactional_db, client, settings, tmp_path, monkeypatch, program, make_member
):
    """A file of more than a round is posted by processes the Celery pool process forks (billiard): the
    path multiprocessing would refuse there ("daemonic processes are not allowed to have children")."""
    from rewards.models import LedgerEntry
    from rewards.selectors import ledger_mismatches

    members = [make_member() for _ in range(20)]
    user = SuperuserFactory(username="worker-admin")
    client.force_login(user)
    rows = importing.ROUND_ROWS + 50
    lines = ["purchase_id;member_number;purchased_at;amount"] + [
        f"W-{n:06d};{members[n % 20].member_number};01.10.2026 12:00;{10 + n % 90},50" for n in range(rows)
    ]
    with celery_worker(settings, tmp_path, monkeypatch, "--pool=prefork", "--concurrency=1") as worker:
        upload(client, ("\n".join(lines) + "\n").encode(), name="zakupy.csv", kind="purchases", source="pos")
        job = latest_job()
        wait_for(job, "previewed", worker, tmp_path, timeout=120)
        client.post(confirm_url(job))
        wait_for(job, "done", worker, tmp_path, timeout=180)
        job.refresh_from_db()
        assert job.options["applied"] == {"new": rows}
        assert LedgerEntry.objects.filter(reference=f"import:{job.pk}").count() == rows
        assert ledger_mismatches() == []


def test_members_error_report_needs_the_personal_data_permission(db, client, settings, tmp_path):

    from loyalty_site.files.importing import import_preview

    settings.MEDIA_ROOT = tmp_path
    user = StaffFactory(username="importer")
    user.user_permissions.add(Permission.objects.get(codename="add_member"))

    job = import_preview(
        job=import_job_create(
            kind="members", file=SimpleUploadedFile("m.csv", b"member_number\n!\n"), name="m.csv", user=user
        )
    )
    client.force_login(user)
    url = reverse("admin:files_importjob_report", args=[job.pk])
    assert client.get(url).status_code == 403
    user.user_permissions.add(Permission.objects.get(codename="view_member_personal_data"))
    user = get_user_model().objects.get(pk=user.pk)
    client.force_login(user)
    assert client.get(url).status_code == 200
