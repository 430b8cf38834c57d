"""What staff do with an import: upload, download a template, confirm, cancel; the work queued or run here."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.utils.translation import gettext

from .. import importing
from ..import_forms import (
    ImportConfirmForm,
    ImportUploadForm,
    may_import,
    uses_lines_file,
    uses_source,
)
from ..importing import HANDLERS, ImportRefused, import_job_create, template_csv
from ..models import ImportJob
from ..tasks import import_apply_run, import_apply_task, import_job_stop, import_preview_run, import_preview_task
from .labels import Status, in_background, kind_label, logger


class JobActionsMixin:
    """The upload, template, confirm and cancel views of ImportJobAdmin."""

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
