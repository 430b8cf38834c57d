"""Who may export personal data, download a file and see someone else's: checked at submit, download and in the task."""

from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission
from django.urls import reverse

from loyalty_site.files.exports import EXPORT_FLAG, export_job_create
from loyalty_site.files.models import ExportJob
from loyalty_site.files.tasks import export_job_run, export_job_task
from members.models import Member
from tests.factories import StaffFactory

from .support import MEMBER_EXPORT, download_url, export_in_background, job_url, logged_in, submit_export


def test_staff_without_the_personal_data_permission_get_403_and_no_job_and_404_on_others_files(
    staff_user, krakow_and_lodz
):
    client = logged_in(StaffFactory(username="analyst", role="Analyst"))

    assert client.get(reverse(MEMBER_EXPORT)).status_code == 403
    assert client.post(reverse(MEMBER_EXPORT), {"format": "0", "resource": "0"}).status_code == 403
    assert not ExportJob.objects.exists()

    job = export_job_run(
        export_job_create(user=staff_user, model=Member, filters="", file_format="csv", personal_data=True).pk
    )
    assert job.status == "done"
    assert client.get(download_url(job)).status_code == 404
    assert client.get(job_url(job)).status_code == 404


def test_others_get_404_on_someones_export_and_a_superuser_may_download_it(
    admin_client_, krakow_and_lodz, eager_celery, django_capture_on_commit_callbacks
):
    job = export_in_background(admin_client_, django_capture_on_commit_callbacks)

    support = logged_in(StaffFactory(username="support", role="Support"))
    assert support.get(download_url(job)).status_code == 404
    assert support.get(job_url(job)).status_code == 404
    assert support.get(job_url(job), HTTP_HX_REQUEST="true").status_code == 404
    listed = support.get(reverse("admin:files_exportjob_changelist")).context["cl"].result_list
    assert list(listed) == []

    support_job = export_in_background(support, django_capture_on_commit_callbacks)
    assert support_job.created_by.username == "support"
    assert support.get(download_url(support_job)).status_code == 200
    assert admin_client_.get(download_url(support_job)).status_code == 200
    listed = admin_client_.get(reverse("admin:files_exportjob_changelist")).context["cl"].result_list
    assert {j.pk for j in listed} == {job.pk, support_job.pk}
    listed = support.get(reverse("admin:files_exportjob_changelist")).context["cl"].result_list
    assert [j.pk for j in listed] == [support_job.pk]


def test_the_download_asks_for_the_personal_data_permission_again(
    krakow_and_lodz, eager_celery, django_capture_on_commit_callbacks
):
    user = StaffFactory(username="support", role="Support")
    client = logged_in(user)
    job = export_in_background(client, django_capture_on_commit_callbacks)
    assert client.get(download_url(job)).status_code == 200

    user.groups.clear()
    user.user_permissions.add(Permission.objects.get(codename="view_member"))

    assert client.get(job_url(job)).status_code == 200
    assert client.get(download_url(job)).status_code == 403


def test_the_task_refuses_a_user_who_lost_the_permission_since(krakow_and_lodz, django_capture_on_commit_callbacks):
    user = StaffFactory(username="support", role="Support")
    client = logged_in(user)
    with django_capture_on_commit_callbacks():
        submit_export(client, MEMBER_EXPORT)
    job = ExportJob.objects.get()

    user.groups.clear()
    export_job_task.apply(args=[job.pk])

    job.refresh_from_db()
    assert job.status == "failed" and "may no longer export this list" in job.error_message
    assert not job.file and not LogEntry.objects.filter(action_flag=EXPORT_FLAG).exists()
