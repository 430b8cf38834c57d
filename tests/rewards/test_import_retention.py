"""Uploads hold personal data: the cleanup deletes them some days after the import ended or was abandoned."""

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from loyalty_site.files.importing import HANDLERS, ImportRefused, import_apply, import_files_cleanup, import_preview
from loyalty_site.files.models import ImportJob, ImportRowError
from rewards.models import LedgerEntry
from rewards.resources import PurchaseImport
from tests.factories import MemberFactory

from .test_imports import _kept, job, purchases_csv


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.IMPORT_FILES_KEEP_DAYS = 7


@pytest.fixture
def members(db):
    return MemberFactory.create_batch(3)


def _age(job_obj, days):
    """Move the job's upload and end `days` into the past."""
    past = timezone.now() - timedelta(days=days)
    ImportJob.objects.filter(pk=job_obj.pk).update(created_at=past, finished_at=past if job_obj.finished_at else None)
    job_obj.refresh_from_db()
    return job_obj


def test_files_of_imports_that_ended_long_ago_are_deleted_and_the_record_stays(members, program, staff_user):
    bad = purchases_csv(members, 5, {3: ("amount", "abc")})
    old = import_apply(job=_age(import_preview(job=job("purchases", purchases_csv(members, 5), staff_user)), 0))
    failed = import_preview(job=job("purchases", bad, staff_user, only_valid_rows=True))
    failed = import_apply(job=failed)
    recent = import_apply(job=import_preview(job=job("purchases", purchases_csv(members, 6), staff_user)))
    _age(old, 8)
    _age(failed, 8)
    _age(recent, 6)
    storage = old.file.storage
    old_name, failed_name, recent_name = old.file.name, failed.file.name, recent.file.name

    assert import_files_cleanup() == 2

    assert not storage.exists(old_name) and not storage.exists(failed_name)
    assert storage.exists(recent_name)
    old.refresh_from_db()
    failed.refresh_from_db()
    assert (old.file.name, old.sample, old.status, old.counts) == ("", [], "done", {"new": 5})
    assert failed.file.name == ""
    assert ImportRowError.objects.filter(job=failed).count() == 1  # the failed-rows report stays
    assert ImportJob.objects.get(pk=recent.pk).sample != []
    assert import_files_cleanup() == 0  # nothing left to do


def test_a_preview_never_confirmed_is_closed_with_its_files(members, program, staff_user):
    abandoned = import_preview(job=job("purchases", purchases_csv(members, 5), staff_user))
    storage, kept = _kept(abandoned)
    assert storage.exists(kept)
    _age(abandoned, 8)
    waiting = _age(import_preview(job=job("purchases", purchases_csv(members, 4), staff_user)), 6)

    import_files_cleanup()

    abandoned.refresh_from_db()
    assert abandoned.status == "failed"
    assert abandoned.error_message.startswith("Nie zaimportowano w ciągu 7 dni od przesłania")
    assert abandoned.file.name == "" and not storage.exists(kept)
    with pytest.raises(ImportRefused):
        import_apply(job=abandoned)
    assert LedgerEntry.objects.count() == 0
    assert ImportJob.objects.get(pk=waiting.pk).status == "previewed"  # still within the days given


def test_a_stopped_import_is_no_longer_offered_to_continue_once_its_file_is_gone(members, program, staff_user):
    stopped = import_preview(job=job("purchases", purchases_csv(members, 5), staff_user))
    ImportJob.objects.filter(pk=stopped.pk).update(
        status="failed", finished_at=timezone.now(), options={**stopped.options, "stopped_during": "import"}
    )
    _age(ImportJob.objects.get(pk=stopped.pk), 8)

    import_files_cleanup()

    assert "stopped_during" not in ImportJob.objects.get(pk=stopped.pk).options


def test_the_cleanup_runs_on_a_schedule():
    tasks = {entry["task"] for entry in django_settings.CELERY_BEAT_SCHEDULE.values()}
    assert "loyalty_site.files.tasks.import_files_cleanup_task" in tasks


# --- One preview at a time (loyalty_site.files.jobs) ----------------------------------------------------------


def test_a_second_delivery_leaves_a_running_preview_alone_and_takes_over_a_dead_one(members, program, staff_user):
    upload = job("purchases", purchases_csv(members, 5), staff_user)
    ImportJob.objects.filter(pk=upload.pk).update(status="previewing", claim="alive", heartbeat_at=timezone.now())

    assert import_preview(job=upload).status == "previewing"
    assert ImportJob.objects.get(pk=upload.pk).claim == "alive"

    ImportJob.objects.filter(pk=upload.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    previewed = import_preview(job=upload)

    assert (previewed.status, previewed.counts) == ("previewed", {"new": 5})


class TakenOverAtTheSecondChunk(PurchaseImport):
    """The purchases import, registered under a kind of its own: while it checks the second chunk, another run
    takes the job over (as a second delivery of the task would, `job_claim`)."""

    kind = "purchases-taken-over"

    def __init__(self):
        self.chunks = 0

    def prepare(self, rows, *, job, **kwargs):
        self.chunks += 1
        if self.chunks == 2:
            ImportJob.objects.filter(pk=job.pk).update(claim="another-run", previewed_rows=0, counts={})
        return super().prepare(rows, job=job, **kwargs)


def test_a_preview_that_lost_its_job_writes_nothing_more(members, program, staff_user, monkeypatch):
    handler = TakenOverAtTheSecondChunk()
    monkeypatch.setitem(HANDLERS, handler.kind, handler)  # the registry `register` fills, restored after the test
    bad = dict.fromkeys(range(2, 12), ("amount", "x"))  # every row wrong: each chunk has errors to write
    upload = job(handler.kind, purchases_csv(members, 10, bad), staff_user)

    left = import_preview(job=upload, chunk_size=5)

    assert handler.chunks == 2
    assert (left.status, left.claim, left.previewed_rows, left.counts) == ("previewing", "another-run", 0, {})
    assert ImportRowError.objects.filter(job=upload).count() == 5  # the first chunk's; not the second's
