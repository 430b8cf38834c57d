"""A job's page: progress, one page of errors, a sample of rows, and its error report."""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import (
    HttpResponseNotAllowed,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.utils import timezone

from .. import importing
from ..import_forms import (
    may_import,
)
from ..importing import HANDLERS, error_report_csv
from ..models import ImportJob, ImportRowError
from .labels import (
    ERRORS_PER_PAGE,
    OTHER_LABELS,
    POLLING_STATUSES,
    PREVIEW_LABELS,
    STALLED_AFTER_SECONDS,
    Status,
    _can_see_personal_data,
    _shown_value,
    count_rows,
    kind_label,
)


class JobPageMixin:
    """The change view of ImportJobAdmin, which is the job's page (nobody edits a job)."""

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
            "figures": handler.figure_rows(job) if (handler := HANDLERS.get(job.kind)) else [],
            # A re-upload of rows already recorded, unchanged: nothing to confirm.
            "nothing_new": job.status == Status.PREVIEWED
            and not job.invalid_rows
            and not any(job.counts.get(action) for action in ("new", "update")),
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
