"""Records written only by the services, shown view-only: the ledger, the accounts, the tier history and the
reconciliation runs."""

import json

from django.contrib import admin, messages
from django.contrib.admin import DateFieldListFilter
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty_site.admin_format import rule_name, whole
from loyalty_site.files.admin_exports import SafeExportAdminMixin
from members import admin as members_admin
from members.models import Member

from ..exports import (
    LedgerEntryResource,
    PointsAccountResource,
    TierChangeResource,
)
from ..models import (
    LedgerCheck,
    LedgerEntry,
    PointsAccount,
    TierChange,
)
from ..reasons import entry_reason
from ..reconciliation import VIEW_PERMISSION as LEDGER_CHECK_VIEW
from ..tasks import ledger_reconcile_task


def rules_summary(rules) -> str:
    """The earning rules of a ledger entry in one line: 'base 1 pt/PLN: 100 · Srebrny x1.25: 25'."""
    if not rules:
        return ""
    if not isinstance(rules, list) or not all(isinstance(rule, dict) for rule in rules):
        return json.dumps(rules, ensure_ascii=False)
    return " · ".join(
        f"{_rule_label(rule, rule.get('name', rule.get('rule', '?')))}: {_points_or_text(rule.get('points', '?'))}"
        for rule in rules
    )


def _rule_label(rule: dict, name) -> str:
    """A tier rule's name was written by the earning step as "Srebrny x1.25": shown with a times sign and a
    decimal comma. Names staff gave their own rules are shown as they wrote them."""
    return rule_name(name) if rule.get("rule") == "tier" else str(name)


def _points_or_text(value) -> str:
    return whole(value) if isinstance(value, int) else str(value)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(members_admin.ViewOnlyAdminMixin, SafeExportAdminMixin, admin.ModelAdmin):
    """The ledger is append-only (a database trigger refuses changes): nobody, superusers included, edits it
    here. Corrections are adjustments, made from the member admin."""

    resource_classes = [LedgerEntryResource]
    # Who posted it (`actor`) is on the entry's page; the bucket is a filter.
    list_display = ["created_at", "member", "kind", "num_points", "reason_text"]
    list_filter = ["kind", "bucket", ("created_at", DateFieldListFilter)]
    list_select_related = ["member", "actor"]
    search_fields = ["=member__member_number", "=reference"]
    show_full_result_count = False
    fields = [
        "member",
        "created_at",
        "kind",
        "bucket",
        "points",
        "reason_text",
        "rules_table",
        "purchase",
        "reference",
        "related_entry",  # read-only: shown as a link to the entry it releases, reverses or transfers
        "actor",
        "available_at",
        "idempotency_key",
    ]
    readonly_fields = ["rules_table", "reason_text"]

    @admin.display(description=_("reason"))
    def reason_text(self, entry):
        return entry_reason(entry)

    @admin.display(description=_("points"), ordering="points")
    def num_points(self, entry):
        return whole(entry.points)

    @admin.display(description=_("why: the earning rules that applied"))
    def rules_table(self, entry):
        rules = entry.rules
        if not rules:
            return "—"
        if not isinstance(rules, list) or not all(isinstance(rule, dict) for rule in rules):
            return format_html("<pre>{}</pre>", json.dumps(rules, ensure_ascii=False, indent=2))
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td class='num'>{}</td></tr>",
            (
                (
                    _rule_kind(rule.get("rule")),
                    _rule_label(rule, rule.get("name", "")),
                    _points_or_text(rule.get("points", "")),
                )
                for rule in rules
            ),
        )
        return format_html(
            "<table class='rules-table'><thead><tr><th>{}</th><th>{}</th><th class='num'>{}</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            gettext("rule"),
            gettext("what"),
            gettext("points"),
            rows,
        )


def _rule_kind(rule) -> str:
    labels = {
        "base": gettext("base rate"),
        "tier": gettext("tier multiplier"),
        "excluded": gettext("excluded"),
        "cap": gettext("cap per purchase"),
    }
    if isinstance(rule, int):
        return gettext("earning rule #%d") % rule
    return labels.get(rule, str(rule))


@admin.register(PointsAccount)
class PointsAccountAdmin(members_admin.ViewOnlyAdminMixin, SafeExportAdminMixin, admin.ModelAdmin):
    resource_classes = [PointsAccountResource]
    list_display = ["member", "num_balance", "num_pending", "tier", "tier_since", "updated_at"]
    list_filter = ["tier"]
    list_select_related = ["member", "tier"]
    search_fields = ["=member__member_number"]
    show_full_result_count = False

    @admin.display(description=_("balance"), ordering="balance")
    def num_balance(self, account):
        return whole(account.balance)

    @admin.display(description=_("pending"), ordering="pending")
    def num_pending(self, account):
        return whole(account.pending)


@admin.register(TierChange)
class TierChangeAdmin(members_admin.ViewOnlyAdminMixin, SafeExportAdminMixin, admin.ModelAdmin):
    resource_classes = [TierChangeResource]
    list_display = ["changed_at", "member", "from_tier", "to_tier", "reason_text"]
    list_filter = ["to_tier", ("changed_at", DateFieldListFilter)]
    list_select_related = ["member", "from_tier", "to_tier"]
    search_fields = ["=member__member_number"]
    show_full_result_count = False
    exclude = ["reason", "reason_code", "reason_params"]
    readonly_fields = ["reason_text"]

    @admin.display(description=_("reason"))
    def reason_text(self, change):
        return entry_reason(change)


@admin.register(LedgerCheck)
class LedgerCheckAdmin(members_admin.ViewOnlyAdminMixin, admin.ModelAdmin):
    """The nightly ledger checks (rewards.reconciliation), read-only; staff who may read the ledger see them and
    may run one now."""

    list_display = ["started_at", "finished_at", "accounts_checked", "mismatch_count"]
    list_filter = [("started_at", DateFieldListFilter)]
    show_full_result_count = False
    fields = ["started_at", "finished_at", "accounts_checked", "mismatch_count", "mismatch_table"]
    readonly_fields = ["mismatch_table"]

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff and request.user.has_perm(LEDGER_CHECK_VIEW)

    def has_module_permission(self, request):
        return self.has_view_permission(request) or super().has_module_permission(request)

    def get_urls(self):
        return [
            path("run/", self.admin_site.admin_view(self.run_view), name="rewards_ledgercheck_run"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "may_run_check": self.has_view_permission(request)}
        return super().changelist_view(request, extra_context)

    def run_view(self, request):
        """Queue a check now (POST only): it runs in a worker and its record appears in the list."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_view_permission(request):
            raise PermissionDenied
        ledger_reconcile_task.delay_on_commit()
        messages.success(
            request, gettext("The ledger check was queued. Its result appears in this list when it has run.")
        )
        return HttpResponseRedirect(reverse(f"{self.admin_site.name}:rewards_ledgercheck_changelist"))

    @admin.display(description=_("first accounts that differ"))
    def mismatch_table(self, check):
        rows = [row for row in check.mismatches if isinstance(row, dict)] if isinstance(check.mismatches, list) else []
        if not rows:
            return "—"
        members = Member.objects.in_bulk(
            [row.get("member_id") for row in rows if isinstance(row.get("member_id"), int)]
        )

        def member_link(member_id):
            member = members.get(member_id)
            if member is None:
                return format_html("{}", member_id)
            url = reverse(f"{self.admin_site.name}:members_member_change", args=[member.pk])
            return format_html('<a href="{}">{}</a>', url, member.member_number)

        body = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    member_link(row.get("member_id")),
                    row.get("balance", ""),
                    row.get("ledger_available", ""),
                    row.get("lots", ""),
                    row.get("pending", ""),
                    row.get("ledger_pending", ""),
                )
                for row in rows
            ),
        )
        return format_html(
            "<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>",
            format_html_join(
                "",
                "<th>{}</th>",
                (
                    (gettext("member"),),
                    (gettext("stored balance"),),
                    (gettext("available in the ledger"),),
                    (gettext("remaining in the lots"),),
                    (gettext("stored pending"),),
                    (gettext("pending in the ledger"),),
                ),
            ),
            body,
        )
