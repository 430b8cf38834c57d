"""Staff imports in the admin: upload a file, watch its check, read its errors, confirm it, download reports.

The engine (`importing`) does the work. This module decides who may do what, and whether the work runs
in the request or in a Celery task (`tasks`): a request never holds the server for more than a file
the engine calls small, and a job page never grows with the file (counts, one page of errors, a sample).

Staff see an import of a kind (members, purchases, ...) only with that kind's handler permission.
"""

import logging

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import importing
from .import_forms import (
    ImportConfirmForm,
    ImportUploadForm,
    importable_kinds,
    may_import,
    uses_lines_file,
    uses_source,
)
from .importing import HANDLERS, MASKED_COLUMNS, ImportRefused, error_report_csv, import_job_create, template_csv
from .models import ImportJob, ImportRowError
from .tasks import import_apply_run, import_apply_task, import_job_stop, import_preview_run, import_preview_task

logger = logging.getLogger(__name__)

Status = ImportJob.Status
POLLING_STATUSES = (Status.QUEUED, Status.PREVIEWING, Status.IMPORTING)
ERRORS_PER_PAGE = 50
# An XLSX is compressed: a small workbook can hold many times the rows of a CSV of the same size.
XLSX_ROWS_FACTOR = 8
# A job still queued after this long probably has no worker taking it: the page says so.
STALLED_AFTER_SECONDS = 60

PREVIEW_LABELS = {
    "new": _("to create"),
    "update": _("to update"),
    "skip": _("unchanged"),
    "invalid": _("with errors"),
}
DONE_LABELS = {
    "new": _("created"),
    "update": _("updated"),
    "skip": _("unchanged"),
    "invalid": _("not imported (errors)"),
}
# Short labels for the list of jobs, where the column must stay narrow.
LIST_LABELS = {
    "new": _("new"),
    "update": _("changed"),
    "skip": _("unchanged"),
    "invalid": _("errors"),
    "line": _("lines"),
}
# Actions some handlers add to the four above (a purchase's further item lines are rows of their own).
OTHER_LABELS = {"line": _("further item lines of a purchase")}


def in_background(job: ImportJob) -> bool:
    """Whether the job's preview or import runs in a Celery task rather than in the request.

    The engine decides by file size; an XLSX counts as bigger than it is (compressed), and an import of more
    than one chunk of rows goes to the background whatever the size (rows can cost more than bytes: a
    purchase posts points).
    """
    if importing.runs_in_background(job):
        return True
    if (
        job.original_name.lower().endswith(".xlsx")
        and job.size * XLSX_ROWS_FACTOR > importing.uploads.BACKGROUND_THRESHOLD_BYTES
    ):
        return True
    return job.total_rows > importing.CHUNK_SIZE


def kind_label(kind: str) -> str:
    handler = HANDLERS.get(kind)
    return handler.label if handler else kind


def count_rows(job: ImportJob) -> list[dict]:
    """A job's counts as (action, number, label): what the file would do, or what it did.

    Always the four actions every handler has; then any a handler adds (a purchase's item lines).
    """
    applied = job.options.get("applied")
    # A cancelled import: what its committed chunks did, not what the whole file would have done.
    ended = job.status == Status.DONE or (job.status == Status.CANCELLED and job.processed_rows)
    counts, labels = (applied, DONE_LABELS) if ended and applied is not None else (job.counts, PREVIEW_LABELS)
    rows = [
        {"action": action, "number": int(counts.get(action, 0)), "label": label} for action, label in labels.items()
    ]
    for action in sorted(set(counts) - set(labels)):
        rows.append({"action": action, "number": int(counts[action]), "label": OTHER_LABELS.get(action, action)})
    return rows


def _can_see_personal_data(user) -> bool:
    return user.has_perm(settings.PERSONAL_DATA_PERMISSION)


def _shown_value(column: str, value: str, *, personal: bool) -> str:
    masker = MASKED_COLUMNS.get(column)
    if personal or masker is None or not value:
        return value
    return masker(value)


class ImportKindListFilter(admin.SimpleListFilter):
    title = _("what is imported")
    parameter_name = "kind"

    def lookups(self, request, model_admin):
        return importable_kinds(request.user)

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(kind=self.value())
        return queryset


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
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

    def add_view(self, request, form_url="", extra_context=None):
        query = request.META.get("QUERY_STRING")
        return HttpResponseRedirect(self._url("upload") + (f"?{query}" if query else ""))

    def upload_view(self, request):
        if request.method not in ("GET", "HEAD", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        requested = request.GET.get("kind")
        if requested and not may_import(request.user, requested):
            raise PermissionDenied
        if request.method == "POST":
            form = ImportUploadForm(request.POST, request.FILES, user=request.user)
            if form.is_valid():
                if not may_import(request.user, form.cleaned_data["kind"]):
                    raise PermissionDenied
                return self._upload(request, form)
        else:
            form = ImportUploadForm(user=request.user, initial={"kind": requested} if requested else None)
        kind = form.selected_kind()
        form.fields["kind"].widget.attrs.update(
            {"hx-get": self._url("upload"), "hx-trigger": "change", "hx-target": "#import-kind", "hx-swap": "outerHTML"}
        )
        context = self._context(
            request,
            title=gettext("Import a file"),
            form=form,
            **self._kind_context(kind, form),
        )
        if request.htmx and request.method != "POST":
            return TemplateResponse(request, "files/partials/_import_kind.html", {**context, "oob": True})
        return TemplateResponse(request, "admin/files/importjob/upload.html", context)

    def _kind_context(self, kind: str, form: ImportUploadForm) -> dict:
        handler = HANDLERS[kind]
        return {
            "kind": kind,
            "handler": handler,
            "template_url": self._url("template", kind),
            "show_consent": form.asks_consent_version,
            "show_source": uses_source(handler),
            "show_lines_file": uses_lines_file(handler),
            "lines_template_url": f"{self._url('template', kind)}?file=lines" if uses_lines_file(handler) else "",
            "consent_versions": form.versions,
        }

    def _upload(self, request, form: ImportUploadForm):
        upload = form.cleaned_data["file"]
        lines = form.cleaned_data.get("lines_file")
        job = import_job_create(
            kind=form.cleaned_data["kind"],
            file=upload,
            name=upload.name,
            user=request.user,
            only_valid_rows=form.cleaned_data["only_valid_rows"],
            options=form.job_options(),
            lines_file=lines,
            lines_name=lines.name if lines else "",
        )
        self.log_addition(request, job, [{"added": {}}])
        if in_background(job):
            if not self._queue(request, import_preview_task, job, stage="preview"):
                return HttpResponseRedirect(self._url("change", job.pk))
            messages.info(
                request, gettext("The file is big: it is checked in the background. This page shows how far it got.")
            )
        else:
            import_preview_run(job.pk)
        return HttpResponseRedirect(self._url("change", job.pk))

    def template_view(self, request, kind):
        if kind not in HANDLERS:
            raise Http404(gettext("No such kind of import."))
        if not may_import(request.user, kind):
            raise PermissionDenied
        lines = request.GET.get("file") == "lines"  # the template of the second file (a purchase's lines)
        if lines and not uses_lines_file(HANDLERS[kind]):
            raise Http404(gettext("This kind of import takes no second file."))
        # A BOM so that Excel reads the file as UTF-8 and shows Polish letters right.
        response = HttpResponse("\ufeff" + template_csv(kind, lines=lines), content_type="text/csv; charset=utf-8")
        name = f"{kind}-lines-template.csv" if lines else f"{kind}-template.csv"
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response

    # -- The job page --

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        job = self._job(request, object_id)
        if request.htmx and request.htmx.target == "import-errors":
            return TemplateResponse(request, "files/partials/_import_errors.html", self._errors_context(request, job))
        if request.htmx:
            response = TemplateResponse(
                request, "files/partials/_import_progress.html", self._progress_context(request, job)
            )
            shown = request.GET.get("from")
            if shown and shown != job.status and job.status not in POLLING_STATUSES:
                # The preview or import finished: reload for the errors, the sample and the buttons.
                response["HX-Refresh"] = "true"
            return response
        context = {
            **self._context(request, title=job.original_name),
            **self._errors_context(request, job),
            **self._progress_context(request, job),
            "kind_label": kind_label(job.kind),
            "can_confirm": job.status == Status.PREVIEWED and (not job.invalid_rows or job.only_valid_rows),
            "can_choose_valid_rows": job.status == Status.PREVIEWED and job.invalid_rows and not job.only_valid_rows,
            "can_restart": job.status == Status.FAILED and job.options.get("stopped_during") in ("preview", "import"),
            "confirm_url": self._url("confirm", job.pk),
            "cancel_url": (
                self._url("cancel", job.pk)
                if job.status in importing.CANCELLABLE and self._may_cancel(request, job)
                else ""
            ),
            "cancelled": self._cancelled(job),
            "upload_url": f"{self._url('upload')}?kind={job.kind}" if may_import(request.user, job.kind) else "",
            "sample": self._sample(request, job),
        }
        return TemplateResponse(request, "admin/files/importjob/job.html", context)

    def _progress_context(self, request, job: ImportJob) -> dict:
        polling = job.status in POLLING_STATUSES
        waited = (timezone.now() - job.created_at).total_seconds()
        return {
            "job": job,
            "polling": polling,
            "poll_url": f"{request.path}?from={job.status}",
            "counts": count_rows(job),
            "percent": 100 if job.status == Status.DONE else job.progress_percent,
            "stalled": job.status == Status.QUEUED and waited > STALLED_AFTER_SECONDS,
        }

    def _errors_context(self, request, job: ImportJob) -> dict:
        errors = ImportRowError.objects.filter(job=job).order_by("line", "id")
        page = Paginator(errors, ERRORS_PER_PAGE).get_page(request.GET.get("page"))
        personal = _can_see_personal_data(request.user)
        rows = [
            {
                "line": error.line,
                "column": error.column,
                "value": _shown_value(error.column, error.value, personal=personal),
                "message": error.message,
            }
            for error in page.object_list
        ]
        return {
            "job": job,
            "errors_page": page,
            "error_rows": rows,
            "errors_truncated": page.paginator.count >= importing.MAX_STORED_ERRORS,
            "max_errors": importing.MAX_STORED_ERRORS,
            "job_url": request.path,
            "report_url": self._url("report", job.pk),
        }

    def _sample(self, request, job: ImportJob) -> dict:
        """The first rows of the file as a table: the file's columns in its order, the action per row."""
        present = {name for row in job.sample for name in row.get("values", {}) if not name.startswith("__")}
        handler = HANDLERS.get(job.kind)
        order = [column.name for column in handler.columns] if handler else []
        # The handler's order: the stored sample (jsonb) does not keep the file's.
        columns = [name for name in order if name in present] + sorted(present - set(order))
        personal = _can_see_personal_data(request.user)
        labels = {**PREVIEW_LABELS, **OTHER_LABELS}
        rows = [
            {
                "line": row.get("line"),
                "action": row.get("action"),
                "label": labels.get(row.get("action"), row.get("action")),
                "values": [
                    _shown_value(name, str(row.get("values", {}).get(name, "")), personal=personal) for name in columns
                ],
            }
            for row in job.sample
        ]
        return {"columns": columns, "rows": rows}

    # -- Cancel --

    def _may_cancel(self, request, job: ImportJob) -> bool:
        """The job's own uploader, or staff who may import its kind."""
        user = request.user
        return user.is_superuser or job.created_by_id == user.pk or may_import(user, job.kind)

    def _cancelled(self, job: ImportJob) -> dict | None:
        """Who cancelled the job and when, for its page."""
        if job.status != Status.CANCELLED:
            return None
        user_id = job.options.get("cancelled_by")
        user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
        return {"by": user or "—", "at": job.finished_at}

    def cancel_view(self, request, job_id):
        """GET asks to confirm (what stays imported, what stops); POST cancels."""
        if request.method not in ("GET", "HEAD", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        try:
            job = ImportJob.objects.select_related("created_by").get(pk=int(job_id))
        except (ValueError, ImportJob.DoesNotExist):
            raise Http404(gettext("No such import.")) from None
        if not self._may_cancel(request, job):
            raise PermissionDenied
        job_url = self._url("change", job.pk)
        if request.method == "POST":
            try:
                importing.import_cancel(job=job, user=request.user)
            except ImportRefused as exc:
                messages.warning(request, str(exc))
                return HttpResponseRedirect(job_url)
            self.log_change(request, job, gettext("Cancelled the import."))
            messages.success(request, gettext("The import was cancelled: nothing more is checked or imported."))
            return HttpResponseRedirect(job_url)
        if job.status not in importing.CANCELLABLE:
            return HttpResponseRedirect(job_url)
        context = self._context(
            request,
            title=gettext("Cancel the import of %(file)s?") % {"file": job.original_name},
            job=job,
            job_url=job_url,
            kind_label=kind_label(job.kind),
        )
        return TemplateResponse(request, "admin/files/importjob/cancel.html", context)

    # -- Confirm, restart, report --

    def confirm_view(self, request, job_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        job = self._job(request, job_id)
        if not may_import(request.user, job.kind):
            raise PermissionDenied
        job_url = self._url("change", job.pk)
        if request.POST.get("action") == "restart":
            self._restart(request, job)
            return HttpResponseRedirect(job_url)
        form = ImportConfirmForm(request.POST, invalid_rows=job.invalid_rows)
        if not form.is_valid():
            for error in form.non_field_errors():
                messages.error(request, error)
            return HttpResponseRedirect(job_url)
        if job.status in (Status.IMPORTING, Status.DONE):
            messages.warning(request, gettext("This import has already been started."))
            return HttpResponseRedirect(job_url)
        if job.status != Status.PREVIEWED:
            messages.error(
                request, gettext("This file is not waiting for confirmation: it is '%s'.") % job.get_status_display()
            )
            return HttpResponseRedirect(job_url)
        updates = {"only_valid_rows": True} if form.cleaned_data["only_valid_rows"] else {}
        if job.invalid_rows and not (job.only_valid_rows or updates):
            messages.error(
                request,
                gettext(
                    "The file has %(count)s rows with errors, so nothing was imported. Correct the file and upload it "
                    "again, or choose to import only the valid rows."
                )
                % {"count": job.invalid_rows},
            )
            return HttpResponseRedirect(job_url)
        if in_background(job):
            # Claim the job (a second click finds it importing) and let the page show it at once.
            claimed = ImportJob.objects.filter(pk=job.pk, status=Status.PREVIEWED).update(
                status=Status.IMPORTING, error_message="", **updates
            )
            if not claimed:
                messages.warning(request, gettext("This import has already been started."))
                return HttpResponseRedirect(job_url)
            self.log_change(request, job, gettext("Confirmed the import (in the background)."))
            if not self._queue(request, import_apply_task, job, stage="import"):
                return HttpResponseRedirect(job_url)
            messages.info(request, gettext("The import runs in the background. This page shows how far it got."))
            return HttpResponseRedirect(job_url)
        if updates:
            ImportJob.objects.filter(pk=job.pk, status=Status.PREVIEWED).update(**updates)
        try:
            job = import_apply_run(job.pk) or job
        except ImportRefused as exc:
            messages.error(request, str(exc))
            return HttpResponseRedirect(job_url)
        self.log_change(request, job, gettext("Confirmed the import."))
        self._report_result(request, job)
        return HttpResponseRedirect(job_url)

    def _report_result(self, request, job: ImportJob | None) -> None:
        if job is None:
            return
        if job.status == Status.DONE:
            applied = job.options.get("applied", {})
            messages.success(
                request,
                gettext("The file was imported: %(new)s created, %(update)s updated, %(skip)s unchanged.")
                % {key: applied.get(key, 0) for key in ("new", "update", "skip")},
            )
        elif job.status == Status.FAILED:
            messages.error(request, job.error_message)

    def _restart(self, request, job: ImportJob) -> None:
        """Start a job that stopped unexpectedly again: the preview from the top, the import at its checkpoint."""
        stage = job.options.get("stopped_during")
        if job.status != Status.FAILED or stage not in ("preview", "import"):
            messages.error(request, gettext("This import cannot be started again. Upload the file again instead."))
            return
        status = Status.IMPORTING if stage == "import" else Status.QUEUED
        options = {key: value for key, value in job.options.items() if key != "stopped_during"}
        restarted = ImportJob.objects.filter(pk=job.pk, status=Status.FAILED).update(
            status=status, error_message="", finished_at=None, options=options
        )
        if not restarted:
            return
        self.log_change(request, job, gettext("Started the import again."))
        background = in_background(job)
        if stage == "import":
            if background:
                self._queue(request, import_apply_task, job, stage="import")
            else:
                try:
                    self._report_result(request, import_apply_run(job.pk))
                except ImportRefused as exc:
                    messages.error(request, str(exc))
        elif background:
            self._queue(request, import_preview_task, job, stage="preview")
        else:
            import_preview_run(job.pk)

    def _queue(self, request, task, job: ImportJob, *, stage: str) -> bool:
        """Send the job's task after the commit. If the broker cannot take it, the job stops with a message
        staff can act on (start it again later) instead of the page failing."""
        try:
            task.delay_on_commit(job.pk)
        except Exception:
            logger.exception("Import job %s: the %s task could not be queued", job.pk, stage)
            message = gettext(
                "The background worker could not be reached, so the file waits. Try to start it again in a few "
                "minutes; if it still fails, tell the administrator."
            )
            import_job_stop(job.pk, stage=stage, message=message)
            messages.error(request, message)
            return False
        return True

    def report_view(self, request, job_id):
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        job = self._job(request, job_id)
        if not may_import(request.user, job.kind):
            raise PermissionDenied
        handler = HANDLERS.get(job.kind)
        if handler is not None and handler.personal_data and not _can_see_personal_data(request.user):
            # The report repeats the file's values, contact details included: the same gate as exports.
            raise PermissionDenied
        response = StreamingHttpResponse(error_report_csv(job=job), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-errors.csv"'
        return response
