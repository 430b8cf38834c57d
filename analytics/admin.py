"""Analytics admin: the programme dashboard (from snapshots), its exports and refresh, the settings, and the
member page's "customer value" panel."""

import io
import json
from datetime import date
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from analytics import tables
from analytics.figures import KINDS, LABELS, SEGMENT_ORDER
from analytics.models import AnalyticsSettings, DashboardSnapshot, MemberScore
from analytics.services import default_period, segment_choices
from loyalty_site.files.exports import write_csv, write_xlsx
from members import admin_panels

DASHBOARD_PERMISSION = "analytics.view_dashboard"


class RangeForm(forms.Form):
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )
    store = forms.CharField(label=_("Store"), required=False, max_length=30)
    segment = forms.TypedChoiceField(label=_("Segment"), required=False, coerce=int, empty_value=0)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["segment"].choices = [("", _("Every member")), *segment_choices()]

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and end < start:
            raise forms.ValidationError(_("The end of the range comes before its start."))
        if start and end and (end - start).days > 3660:
            raise forms.ValidationError(_("Choose a range of at most ten years."))
        return cleaned

    def range(self) -> tuple[date, date, str]:
        period = default_period()
        data = self.cleaned_data if self.is_valid() else {}
        start = data.get("date_from") or period.start
        end = data.get("date_to") or period.end
        if end < start:
            start, end = period.start, period.end
        return start, end, (data.get("store") or "").strip()

    def segment_id(self) -> int:
        """The chosen campaigns segment's id, 0 for every member (or when the form is not valid)."""
        return (self.cleaned_data.get("segment") or 0) if self.is_valid() else 0


@admin.register(AnalyticsSettings)
class AnalyticsSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__", "point_value_pln", "active_days", "clv_horizon_months"]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not AnalyticsSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        settings, _ = AnalyticsSettings.objects.get_or_create(pk=1)
        return HttpResponseRedirect(reverse("admin:analytics_analyticssettings_change", args=[settings.pk]))


# Figures where a rise is bad news: their changes are coloured the other way round.
LOWER_IS_BETTER = {
    "churn_rate",
    "tier_moves_down",
    "breakage",
    "points_expired",
    "points_outstanding",
    "points_liability",
}


def _formatted(value, kind):
    if value is None:
        return None
    if kind == "rate":
        return float(value) * 100
    if kind == "money":
        return Decimal(value)
    return value


def _trend(code, delta) -> str:
    if delta is None or delta == 0:
        return "flat"
    better = (delta > 0) != (code in LOWER_IS_BETTER)
    return "up" if better else "down"


@admin.register(DashboardSnapshot)
class DashboardAdmin(admin.ModelAdmin):
    """The snapshots' list is the dashboard: /admin/analytics/dashboardsnapshot/."""

    # A snapshot's own page: the range, and the stored figures as the machine-readable payload they are (the
    # dashboard is where staff read them).
    fields = ["date_from", "date_to", "store", "computed_at", "duration_ms", "payload"]
    readonly_fields = ["payload"]

    @admin.display(description=_("figures"))
    def payload(self, snapshot):
        return format_html("<pre><code>{}</code></pre>", json.dumps(snapshot.data, ensure_ascii=False, indent=1))

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.has_perm(DASHBOARD_PERMISSION)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        return [
            path("refresh/", self.admin_site.admin_view(self.refresh_view), name="analytics_dashboard_refresh"),
            path(
                "export/<str:table>.<str:file_format>",
                self.admin_site.admin_view(self.export_view),
                name="analytics_dashboard_export",
            ),
            *super().get_urls(),
        ]

    def _check(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied

    def _snapshot(self, request):
        period = default_period()
        form = RangeForm(request.GET or None, initial={"date_from": period.start, "date_to": period.end})
        start, end, store = form.range()
        snapshot = DashboardSnapshot.objects.filter(
            date_from=start, date_to=end, store=store, segment=form.segment_id()
        ).first()
        return form, (start, end, store), snapshot

    @method_decorator(require_GET)
    def changelist_view(self, request, extra_context=None):
        self._check(request)
        form, (start, end, store), snapshot = self._snapshot(request)
        data = snapshot.data if snapshot else {}
        figure_rows = []
        for row in data.get("figures", []):
            kind = KINDS.get(row["code"], "number")
            figure_rows.append(
                {
                    "code": row["code"],
                    "label": LABELS.get(row["code"], row["code"]),
                    "kind": kind,
                    "value": _formatted(row["value"], kind),
                    "previous": _formatted(row["previous"], kind),
                    "delta": _formatted(row["delta"], kind),
                    "relative": None if row["relative"] is None else row["relative"] * 100,
                    "trend": _trend(row["code"], _formatted(row["delta"], kind)),
                }
            )
        built = {name: tables.table(name, data) for name in tables.TABLE_NAMES} if snapshot else {}
        cohort_rows = []
        for row in (data.get("cohorts") or {}).get("rows", []):
            cells = [
                None if v is None else {"pct": v * 100, "heat": min(10, int(v * 10 + 0.5))} for v in row["retention"]
            ]
            cohort_rows.append({**row, "cells": cells})
        chart_data = None
        if snapshot:
            chart_data = {
                "trend": data.get("trend"),
                "segments": {
                    "labels": [tables.segment_label(code) for code in SEGMENT_ORDER],
                    "values": [(data.get("segments") or {}).get(code, 0) for code in SEGMENT_ORDER],
                },
                "tiers": tier_chart(data),
                "churn": {
                    "labels": [b["band"] for b in data.get("churn_risk") or []],
                    "values": [b["members"] for b in data.get("churn_risk") or []],
                },
                "cohortRevenue": {
                    "labels": [r["cohort"] for r in cohort_rows],
                    "values": [float(r["revenue_per_member"] or 0) for r in cohort_rows],
                },
                "labels": {
                    "revenue": str(_("Revenue (PLN)")),
                    "buyers": str(_("Members who bought")),
                    "earned": str(_("Points earned")),
                    "redeemed": str(_("Points redeemed")),
                    "members": str(_("Members")),
                    "perMember": str(_("Revenue per member (PLN)")),
                },
            }
        query = request.GET.urlencode()
        context = {
            **self.admin_site.each_context(request),
            "title": _("Programme dashboard"),
            "opts": self.model._meta,
            "form": form,
            "start": start,
            "end": end,
            "store": store,
            "segment": form.segment_id(),
            "segment_name": dict(segment_choices()).get(form.segment_id(), ""),
            "snapshot": snapshot,
            "data": data,
            "figures": figure_rows,
            "tables": built,
            "cohort_rows": cohort_rows,
            "cohort_months": (data.get("cohorts") or {}).get("months", []),
            "chart_data": chart_data,
            "optional": data.get("optional") or {},
            "query": query,
            "can_refresh": request.user.has_perm("analytics.change_analyticssettings") or request.user.is_superuser,
            "export_names": tables.TABLE_NAMES,
        }
        return TemplateResponse(request, "admin/analytics/dashboard.html", context)

    @method_decorator(require_POST)
    def refresh_view(self, request):
        self._check(request)
        if not (request.user.has_perm("analytics.change_analyticssettings") or request.user.is_superuser):
            raise PermissionDenied
        form = RangeForm(request.POST)
        if not form.is_valid():
            for error in form.errors.get("__all__", []):
                messages.error(request, error)
            return HttpResponseRedirect(reverse("admin:analytics_dashboardsnapshot_changelist"))
        start, end, store = form.range()
        from analytics.tasks import analytics_snapshot_task

        segment = form.segment_id()
        analytics_snapshot_task.delay_on_commit(start.isoformat(), end.isoformat(), store, segment)
        messages.success(
            request,
            _("The figures for %(start)s to %(end)s are being computed; reload the page in a minute.")
            % {"start": start, "end": end},
        )
        query = f"?date_from={start.isoformat()}&date_to={end.isoformat()}" + (f"&store={store}" if store else "")
        query += f"&segment={segment}" if segment else ""
        return HttpResponseRedirect(reverse("admin:analytics_dashboardsnapshot_changelist") + query)

    @method_decorator(require_GET)
    def export_view(self, request, table, file_format):
        self._check(request)
        if table not in tables.TABLE_NAMES or file_format not in ("csv", "xlsx"):
            raise Http404
        _form, (start, end, store), snapshot = self._snapshot(request)
        if snapshot is None:
            raise Http404
        built = tables.table(table, snapshot.data)
        filename = f"{table}-{start.isoformat()}-{end.isoformat()}{'-' + store if store else ''}.{file_format}"
        if file_format == "csv":
            buffer = io.StringIO(newline="")
            write_csv(buffer, headers=built.headers, rows=built.rows)
            response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        else:
            buffer = io.BytesIO()
            write_xlsx(buffer, title=built.title, headers=built.headers, rows=built.rows)
            response = HttpResponse(
                buffer.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            )
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


def member_value_context(request, member):
    """The member's latest RFM scores and churn risk, for staff who may see the dashboard."""
    if not request.user.has_perm(DASHBOARD_PERMISSION):
        return None
    score = MemberScore.objects.filter(member=member).order_by("-month").first()
    return {"score": score, "segment_label": tables.segment_label(score.segment) if score else None}


admin_panels.panel("rfm", _("Customer value"), "admin/analytics/_member_value.html", member_value_context, order=40)


def tier_chart(data: dict) -> dict:
    """Stacked bars: members per tier at the end of each month; a snapshot from before the history, one bar now."""
    history = data.get("tier_history")
    if history is None:
        history = {
            "months": [str(_("now"))],
            "rows": [{**tier, "members": [tier["members"]]} for tier in data.get("tiers") or []],
        }
    return {
        "labels": history["months"],
        "datasets": [{"label": t["name"] or str(_("No tier")), "values": t["members"]} for t in history["rows"]],
    }
