"""Who may import which kind, and see whose imports."""

from django.urls import reverse

from loyalty_site.files import importing
from loyalty_site.files.importing import Column, Outcome, import_preview
from loyalty_site.files.models import ImportJob
from members.models import Member

from .support import CHANGELIST, UPLOAD, confirm_url, job_for_user, job_url, latest_job, members_csv, page_text, upload


def test_analyst_gets_403_for_imports(role_client, staff_user, consent_text):
    job = import_preview(job=job_for_user(members_csv(2), staff_user))
    client = role_client("Analyst")

    assert client.get(reverse(UPLOAD)).status_code == 403
    assert upload(client, members_csv(2)).status_code == 403
    assert client.get(reverse("admin:files_importjob_template", args=["members"])).status_code == 403
    assert client.get(job_url(job)).status_code == 403
    assert client.post(confirm_url(job)).status_code == 403
    assert client.get(reverse("admin:files_importjob_report", args=[job.pk])).status_code == 403
    assert client.get(reverse(CHANGELIST)).status_code == 403
    assert Member.objects.count() == 0 and ImportJob.objects.count() == 1
    assert "members/importjob" not in page_text(client.get(reverse("admin:index")))


def test_programme_manager_imports_members_and_sees_others_member_imports(role_client, staff_user, consent_text):
    theirs = import_preview(job=job_for_user(members_csv(2), staff_user))
    client = role_client("Programme manager")

    assert client.get(job_url(theirs)).status_code == 200
    upload(client, members_csv(3, start=10))
    mine = latest_job()
    assert mine.created_by == client.user and mine.status == "previewed"
    client.post(confirm_url(mine))
    assert Member.objects.count() == 3
    listed = client.get(reverse(CHANGELIST)).context["cl"].result_list
    assert {job.pk for job in listed} == {theirs.pk, mine.pk}


def test_imports_of_a_kind_are_visible_only_with_its_permission(role_client, staff_user, monkeypatch):
    monkeypatch.setitem(importing.HANDLERS, "secret", SecretImport())
    secret = job_for_user(b"code\nA1\n", staff_user, kind="secret")
    members_job = job_for_user(members_csv(1), staff_user)
    client = role_client("Programme manager")

    listed = client.get(reverse(CHANGELIST)).context["cl"].result_list
    assert [job.pk for job in listed] == [members_job.pk]
    assert client.get(job_url(secret)).status_code == 403
    assert client.get(reverse("admin:files_importjob_report", args=[secret.pk])).status_code == 403
    assert client.post(confirm_url(secret)).status_code == 403
    assert client.get(reverse(UPLOAD), {"kind": "secret"}).status_code == 403
    choices = dict(client.get(reverse(UPLOAD)).context["form"].fields["kind"].choices)
    assert "members" in choices and "secret" not in choices
    refused = upload(client, b"code\nA1\n", kind="secret")
    assert refused.status_code == 200 and "secret is not one of the available choices" in page_text(refused)


def test_support_without_add_member_cannot_import_members(role_client, staff_user):
    job = job_for_user(members_csv(1), staff_user)
    client = role_client("Support")
    assert client.get(reverse(UPLOAD), {"kind": "members"}).status_code == 403
    assert client.get(job_url(job)).status_code == 403


class SecretImport(importing.ImportHandler):
    """A kind of import no role holds the permission for (only superusers)."""

    kind = "secret"
    label = "Secret things"
    permission = "members.delete_member"
    columns = [Column("code", required=True)]

    def prepare(self, rows, *, job, seen):
        return [Outcome(line=row.line, action="new") for row in rows]

    def apply(self, outcomes, *, job):
        pass
