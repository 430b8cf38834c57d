"""Exports in the admin: the changelists' Export (`SafeExportAdminMixin`), one's own background exports, a
job's page with a live progress bar, the download.

`SafeExportAdminMixin` makes the jobs (a changelist export of more than `EXPORT_BACKGROUND_ROWS` rows) and
`loyalty_site.files.tasks` writes the files (`exports.export_job_write`); the job pages show them. Staff see
and download only their own exports, superusers everyone's; a job of someone else is "not found" (404), not
"forbidden", so its existence is not revealed. The download asks again for the export permissions of the
list (and the personal-data permission for personal data): they may have been taken away since the export
was made.
"""

import logging
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.http import FileResponse, Http404, HttpResponseNotAllowed, HttpResponseRedirect, QueryDict
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from import_export.admin import ExportMixin
from import_export.forms import SelectableFieldsExportForm

from .exports import (
    ExportableAdmin,
    ExportRefused,
    SafeCSV,
    SafeXLSX,
    exceeds_background_rows,
    export_allowed,
    export_background_rows,
    export_download_filename,
    export_files_keep_days,
    export_job_admin,
    export_job_create,
    export_job_fail,
    export_record,
)
from .models import ExportJob
from .tasks import export_job_task

# A child of the export log: a download is not an export, but whoever reads one wants the other.
logger = logging.getLogger("loyalty.exports.download")
export_logger = logging.getLogger("loyalty.exports")

Status = ExportJob.Status
POLLING_STATUSES = (Status.QUEUED, Status.RUNNING)
# A job still waiting after this long probably has no worker taking it: the page says so.
STALLED_AFTER_SECONDS = 60
CONTENT_TYPES = {"csv": SafeCSV().get_content_type(), "xlsx": SafeXLSX().get_content_type()}


class ExportColumnsForm(SelectableFieldsExportForm):
    """The export form, with each column shown as staff know it and as the file will name it:
    "Numer członkowski (member_number)" rather than django-import-export's "Member Number"."""

    def _get_field_label(self, resource, field_name: str) -> str:
        field = resource.fields.get(field_name)
        column = field.column_name if field is not None else field_name
        attribute = (field.attribute if field is not None else None) or field_name
        label = _verbose_name(resource._meta.model, attribute)
        if label is None:
            # A column the resource computes (a member's balance): its name, if the catalogue knows it.
            words = column.replace("_", " ")
            label = gettext(words)
            if label == words:
                return column
        return f"{capfirst(label)} ({column})"


def _verbose_name(model, attribute: str):
    """The verbose name of a field, following relations ("member__member_number": "member number")."""
    field = None
    for part in attribute.split("__"):
        if model is None:
            return None
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return None
        model = field.related_model
    return getattr(field, "verbose_name", None)


class SafeExportAdminMixin(ExportableAdmin, ExportMixin):
    """Export (CSV, XLSX) of what the changelist shows, for staff allowed to, recorded every time.

    Put it before `admin.ModelAdmin` and set `resource_classes`. An admin whose export holds personal data
    sets `export_personal_data = True`: staff without the personal-data permission then get 403 and no
    Export button, rather than a file with masked columns (a file of names and cities with starred-out
    contacts is still personal data leaving the system, and useless for any task that needs the export).
    """

    export_formats = [SafeCSV, SafeXLSX]
    # Our own template: import-export's shows the object tools only to staff who may add, which would hide
    # other tools (e.g. "Likely duplicates") from view-only staff.
    import_export_change_list_template = "admin/exports/change_list.html"
    # import-export's form, saying that a long list is exported in the background.
    export_template_name = "admin/exports/export.html"
    export_form_class = ExportColumnsForm
    # A byte-order mark, so Excel opens Polish letters in a CSV correctly.
    to_encoding = "utf-8-sig"

    def has_export_permission(self, request):
        if self.export_personal_data and not request.user.has_perm(settings.PERSONAL_DATA_PERMISSION):
            return False
        return super().has_export_permission(request)

    def get_export_data(self, file_format, request, queryset, **kwargs):
        # As django-import-export's, except that subclassed binary formats get native types (it compares
        # exact types) and that the export is recorded once the file is made.
        if not self.has_export_permission(request):
            raise PermissionDenied
        dataset = self.get_data_for_export(request, queryset, force_native_type=file_format.is_binary(), **kwargs)
        dataset.title = str(self.opts.verbose_name_plural)
        export_data = file_format.export_data(dataset)
        encoding = kwargs.get("encoding")
        if not file_format.is_binary() and encoding:
            export_data = export_data.encode(encoding)
        export_record(
            user=request.user,
            model=self.model,
            rows=len(dataset),
            file_format=file_format.get_extension().upper(),
            filters=request.GET.urlencode(),
            columns=list(dataset.headers or []),
            personal=self.export_personal_data,
        )
        return export_data

    def get_export_filename(self, request, queryset, file_format):
        return f"{self.opts.model_name}-{timezone.localdate():%Y-%m-%d}.{file_format.get_extension()}"

    def get_export_context_data(self, **kwargs):
        return {**super().get_export_context_data(**kwargs), "export_background_rows": export_background_rows()}

    def _do_file_export(self, file_format, request, queryset, export_form=None):
        # The export form's submit: a long list becomes a background job instead of a file made here. A GET
        # (import-export's "skip the form" setting) never creates a job, and exports of items picked on the
        # changelist are at most a page of rows.
        if (
            request.method == "POST"
            and export_form is not None
            and "export_items" not in export_form.changed_data
            and file_format.get_extension() in ExportJob.Format.values
            and exceeds_background_rows(queryset)
        ):
            return self._export_in_background(file_format, request, export_form)
        return super()._do_file_export(file_format, request, queryset, export_form=export_form)

    def _export_in_background(self, file_format, request, export_form):
        if not self.has_export_permission(request):
            raise PermissionDenied
        job = export_job_create(
            user=request.user,
            model=self.model,
            filters=request.GET.urlencode(),
            file_format=file_format.get_extension(),
            resource_index=self.get_resource_index(export_form),
            columns=self.get_export_resource_fields_from_form(export_form),
            personal_data=self.export_personal_data,
        )
        job_url = reverse(f"{self.admin_site.name}:files_exportjob_change", args=[job.pk])
        try:
            export_job_task.delay_on_commit(job.pk)
        except Exception:
            export_logger.exception("Export job %s: the task could not be queued", job.pk)
            message = gettext(
                "The background worker could not be reached, so the file was not made. Try again in a few "
                "minutes; if it still fails, tell the administrator."
            )
            export_job_fail(job.pk, message=message)
            messages.error(request, message)
            return HttpResponseRedirect(job_url)
        messages.info(
            request,
            gettext(
                "The list has more than %(rows)s rows, so the file is prepared in the background. This page shows "
                "how far it got; download the file here when it is ready."
            )
            % {"rows": export_background_rows()},
        )
        return HttpResponseRedirect(job_url)


def list_name(job: ExportJob) -> str:
    """The exported list as staff know it ("Members"), or the stored label if the model is gone."""
    try:
        return capfirst(apps.get_model(job.model_label)._meta.verbose_name_plural)
    except (LookupError, ValueError):
        return job.model_label


def readable_filters(filters: str) -> str:
    """The changelist's query string as "city = Kraków; q = Nowak"."""
    query = QueryDict(filters)
    return "; ".join(f"{key} = {value}" for key, values in query.lists() for value in values)


def file_available(job: ExportJob) -> bool:
    return job.status == Status.DONE and bool(job.file)


@admin.register(ExportJob)
class ExportJobAdmin(admin.ModelAdmin):
    """Export jobs, read-only. The change view is the job's page; nobody edits, adds or deletes a job here."""

    change_list_template = "admin/exports/job_list.html"
    list_filter = ["status"]
    list_select_related = ["created_by"]
    list_per_page = 50
    show_full_result_count = False

    # -- Who sees what --

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(created_by=request.user)

    def has_module_permission(self, request):
        return request.user.is_active and request.user.is_staff

    def has_view_permission(self, request, obj=None):
        if obj is None:
            return self.has_module_permission(request)
        return request.user.is_superuser or obj.created_by_id == request.user.pk

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def _job(self, request, job_id) -> ExportJob:
        try:
            job = ExportJob.objects.select_related("created_by").get(pk=int(job_id))
        except (ValueError, ExportJob.DoesNotExist):
            raise Http404(gettext("No such export.")) from None
        if not self.has_view_permission(request, job):
            raise Http404(gettext("No such export."))
        return job

    # -- The changelist --

    def get_list_display(self, request):
        requested = "requested_by_and_at" if request.user.is_superuser else "requested"
        return [requested, "list_label", "file_format", "status_label", "rows", "download"]

    def get_list_display_links(self, request, list_display):
        return list_display[:1]

    @admin.display(description=_("requested at"), ordering="created_at")
    def requested(self, job):
        return date_format(timezone.localtime(job.created_at), "SHORT_DATETIME_FORMAT")

    @admin.display(description=_("requested"), ordering="created_at")
    def requested_by_and_at(self, job):
        return format_html('{}<br><span class="nowrap">{}</span>', self.requested(job), job.created_by)

    @admin.display(description=_("list"), ordering="model_label")
    def list_label(self, job):
        return list_name(job)

    @admin.display(description=_("status"), ordering="status")
    def status_label(self, job):
        if job.status == Status.RUNNING:
            percent = job.progress_percent
            return format_html(
                '{}<br><span class="nowrap"><progress max="100" value="{}">{}%</progress> {}%</span>',
                job.get_status_display(),
                percent,
                percent,
                percent,
            )
        return job.get_status_display()

    @admin.display(description=_("rows"), ordering="total_rows")
    def rows(self, job):
        return job.total_rows if job.status != Status.QUEUED else "—"

    @admin.display(description=_("file"))
    def download(self, job):
        if file_available(job):
            return format_html('<a href="{}">{}</a>', self._url("download", job.pk), gettext("Download"))
        if job.status == Status.DONE:
            return gettext("deleted")
        return "—"

    # -- URLs --

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("<int:job_id>/download/", self.admin_site.admin_view(self.download_view), name=f"{prefix}_download"),
            *super().get_urls(),
        ]

    def _url(self, name: str, *args) -> str:
        return reverse(f"{self.admin_site.name}:{self.opts.app_label}_{self.opts.model_name}_{name}", args=args)

    # -- The job page --

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        job = self._job(request, object_id)
        progress = self._progress_context(request, job)
        if request.htmx:
            response = TemplateResponse(request, "admin/exports/_job_progress.html", progress)
            shown = request.GET.get("from")
            if shown and shown != job.status and job.status not in POLLING_STATUSES:
                # Finished: reload, so the facts (finished at, rows) are current too.
                response["HX-Refresh"] = "true"
            return response
        context = {
            **self.admin_site.each_context(request),
            **progress,
            "opts": self.opts,
            "title": gettext("Export: %(list)s") % {"list": list_name(job)},
            "list_name": list_name(job),
            "list_url": self._list_url(job),
            "filters": readable_filters(job.filters),
        }
        return TemplateResponse(request, "admin/exports/job.html", context)

    def _progress_context(self, request, job: ExportJob) -> dict:
        waited = (timezone.now() - job.created_at).total_seconds()
        available = file_available(job)
        return {
            "job": job,
            "polling": job.status in POLLING_STATUSES,
            "poll_url": f"{request.path}?from={job.status}",
            "percent": job.progress_percent,
            "stalled": job.status == Status.QUEUED and waited > STALLED_AFTER_SECONDS,
            "download_url": self._url("download", job.pk) if available else "",
            "deleted": job.status == Status.DONE and not available,
            "keep_days": export_files_keep_days(),
            "available_until": job.finished_at + timedelta(days=export_files_keep_days()) if available else None,
        }

    def _list_url(self, job: ExportJob) -> str:
        try:
            model = apps.get_model(job.model_label)
            url = reverse(f"{self.admin_site.name}:{model._meta.app_label}_{model._meta.model_name}_changelist")
        except Exception:  # the model or its admin is gone: the page still shows the job
            return ""
        return f"{url}?{job.filters}" if job.filters else url

    # -- The download --

    def download_view(self, request, job_id):
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        job = self._job(request, job_id)
        if not file_available(job):
            raise Http404(gettext("The file of this export is not ready or has been deleted."))
        try:
            model_admin = export_job_admin(job)
        except ExportRefused:
            raise Http404(gettext("This list no longer exists.")) from None
        if not export_allowed(request, model_admin, personal_data=job.personal_data):
            raise PermissionDenied
        try:
            handle = job.file.open("rb")
        except FileNotFoundError:
            raise Http404(gettext("The file of this export is not ready or has been deleted.")) from None
        logger.info(
            "export download job=%s model=%s rows=%d user=%s personal_data=%s",
            job.pk,
            job.model_label,
            job.total_rows,
            request.user.get_username(),
            job.personal_data,
            extra={"export_job": job.pk, "export_user_id": request.user.pk, "export_personal_data": job.personal_data},
        )
        return FileResponse(
            handle,
            as_attachment=True,
            filename=export_download_filename(job),
            content_type=CONTENT_TYPES.get(job.file_format, "application/octet-stream"),
        )
