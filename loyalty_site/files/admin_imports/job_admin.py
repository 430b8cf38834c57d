"""The import jobs' admin: the list, who sees what, the URLs; its pages and actions come from mixins."""

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
)
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from ..import_forms import (
    importable_kinds,
    may_import,
)
from ..models import ImportJob
from .actions import JobActionsMixin
from .job_page import JobPageMixin
from .labels import LIST_LABELS, ImportKindListFilter, Status, count_rows, kind_label


@admin.register(ImportJob)
class ImportJobAdmin(JobPageMixin, JobActionsMixin, admin.ModelAdmin):
    """Import jobs. Nobody edits a job: the change view is the job's page (progress, errors, sample, confirm)."""

    list_display = ["file_name", "kind_label", "status_label", "counts_summary", "progress", "uploaded"]
    list_display_links = ["file_name"]
    list_filter = ["status", ImportKindListFilter]
    list_select_related = ["created_by"]
    search_fields = ["original_name"]
    list_per_page = 50
    show_full_result_count = False

    # -- Who sees what --

    def get_queryset(self, request):
        queryset = super().get_queryset(request).defer("sample")
        if request.user.is_superuser:
            return queryset
        return queryset.filter(kind__in=[kind for kind, _label in importable_kinds(request.user)])

    def has_module_permission(self, request):
        return bool(importable_kinds(request.user))

    def has_view_permission(self, request, obj=None):
        if obj is not None:
            return request.user.is_superuser or may_import(request.user, obj.kind)
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _job(self, request, job_id) -> ImportJob:
        try:
            job = ImportJob.objects.select_related("created_by").get(pk=int(job_id))
        except (ValueError, ImportJob.DoesNotExist):
            raise Http404(gettext("No such import.")) from None
        if not self.has_view_permission(request, job):
            raise PermissionDenied
        return job

    # -- The changelist --

    @admin.display(description=_("file"), ordering="original_name")
    def file_name(self, job):
        return job.original_name

    @admin.display(description=_("what is imported"), ordering="kind")
    def kind_label(self, job):
        return kind_label(job.kind)

    @admin.display(description=_("status"), ordering="status")
    def status_label(self, job):
        return job.get_status_display()

    @admin.display(description=_("rows"))
    def counts_summary(self, job):
        rows = [
            (LIST_LABELS.get(row["action"], row["label"]), row["number"]) for row in count_rows(job) if row["number"]
        ]
        if not rows:
            return "—"
        return format_html_join(mark_safe("<br>"), '<span class="nowrap">{}: {}</span>', rows)

    @admin.display(description=_("progress"))
    def progress(self, job):
        if job.status in (Status.IMPORTING, Status.DONE):
            percent = 100 if job.status == Status.DONE else job.progress_percent
            return format_html('<progress max="100" value="{}">{}%</progress> {}%', percent, percent, percent)
        if job.status == Status.PREVIEWING:
            return ngettext("%(count)s row checked", "%(count)s rows checked", job.previewed_rows) % {
                "count": job.previewed_rows
            }
        return "—"

    @admin.display(description=_("uploaded"), ordering="created_at")
    def uploaded(self, job):
        when = date_format(timezone.localtime(job.created_at), "SHORT_DATETIME_FORMAT")
        return format_html('{}<br><span class="nowrap">{}</span>', job.created_by, when)

    # -- URLs --

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("upload/", wrap(self.upload_view), name=f"{prefix}_upload"),
            path("template/<str:kind>/", wrap(self.template_view), name=f"{prefix}_template"),
            path("<int:job_id>/confirm/", wrap(self.confirm_view), name=f"{prefix}_confirm"),
            path("<int:job_id>/cancel/", wrap(self.cancel_view), name=f"{prefix}_cancel"),
            path("<int:job_id>/report/", wrap(self.report_view), name=f"{prefix}_report"),
            *super().get_urls(),
        ]

    def _url(self, name: str, *args) -> str:
        return reverse(f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_{name}", args=args)

    def _context(self, request, **extra) -> dict:
        return {**self.admin_site.each_context(request), "opts": self.opts, **extra}

    # -- Upload --

    # -- The job page --

    # -- Cancel --

    # -- Confirm, restart, report --
