"""The engine's own guards: cells the database cannot store, headers too wide to repeat, cancelling."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from loyalty_site.files.importing import ImportRefused, import_apply, import_cancel, import_job_create, import_preview
from loyalty_site.files.models import ImportJob, ImportRowError
from members.models import ConsentText, Member
from tests.members.test_imports import HEADER, job_for, members_csv


@pytest.fixture
def consent_text(db):
    return ConsentText.objects.create(channel="email", purpose="marketing", version="1.0", text="Zgoda")


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def test_a_nul_after_the_first_64_kb_is_a_row_error_and_the_other_rows_go_in(staff_user, consent_text):
    content = members_csv(1500, {1400: "first_name=Zo\x00fia"})
    assert content.index(b"\x00") > 64 * 1024  # beyond what the encoding sniffer reads
    job = import_preview(job=job_for(content, staff_user, only_valid_rows=True))
    assert job.status == ImportJob.Status.PREVIEWED
    assert job.counts == {"new": 1499, "invalid": 1}
    error = ImportRowError.objects.filter(job=job).order_by("id").first()  # the NUL first, then what it left
    assert (error.line, error.column) == (1400, "first_name")
    assert "NUL" in error.message
    assert set(ImportRowError.objects.filter(job=job).values_list("line", flat=True)) == {1400}
    job = import_apply(job=job)
    assert job.status == ImportJob.Status.DONE
    assert Member.objects.count() == 1499 == job.options["applied"]["new"]


def test_a_header_of_a_million_unknown_columns_gets_a_short_message(staff_user, consent_text):
    header = HEADER + ";" + ";".join(f"x{i}" for i in range(1_000_000))
    job = import_preview(job=job_for((header + "\n").encode(), staff_user))
    assert job.status == ImportJob.Status.FAILED
    assert len(job.error_message) < 500


def test_unknown_columns_are_named_up_to_ten(staff_user, consent_text):
    header = HEADER + ";" + ";".join(f"x{i}" for i in range(60))
    job = import_preview(job=job_for((header + "\n").encode(), staff_user))
    assert job.status == ImportJob.Status.FAILED
    assert "x0, x1" in job.error_message and "x9" in job.error_message and "x10" not in job.error_message
    assert "50" in job.error_message


def test_a_cancelled_preview_cannot_be_imported_and_cancelling_twice_is_refused(staff_user, consent_text):
    job = import_preview(job=job_for(members_csv(10), staff_user))
    job = import_cancel(job=job, user=staff_user)
    assert job.status == ImportJob.Status.CANCELLED
    assert job.options["cancelled_by"] == staff_user.pk
    with pytest.raises(ImportRefused):
        import_apply(job=job)
    with pytest.raises(ImportRefused):
        import_cancel(job=job, user=staff_user)
    assert Member.objects.count() == 0


def test_a_queued_job_cancelled_is_never_previewed(staff_user, consent_text):
    job = import_job_create(
        kind="members", file=SimpleUploadedFile("m.csv", members_csv(5)), name="m.csv", user=staff_user
    )
    import_cancel(job=job, user=staff_user)
    job = import_preview(job=job)
    assert job.status == ImportJob.Status.CANCELLED
    assert job.total_rows == 0
