"""Staff admin for the points economy, and the points side of the member admin: ledger, balance, adjust, merge;
and the reward catalog with its partners.

`members` may not import `rewards`, so the member admin registered by `members.admin` is replaced here by a
subclass that adds what needs the points: the ledger inline, the points account, the "Adjust points" action
and the merge of duplicates (which moves points as well as history).
"""

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import DateFieldListFilter
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from loyalty_site.admin_format import money, multiplier, plain, rule_name, whole
from loyalty_site.files.admin_exports import SafeExportAdminMixin
from members import admin as members_admin
from members.models import Member
from members.phones import normalise_phone
from members.services import MemberError

from .catalog import available_q, ended_q, not_yet_available_q, out_of_stock_q
from .exports import (
    EarningRuleResource,
    EventRuleResource,
    LedgerEntryResource,
    MemberPointsResource,
    PartnerResource,
    PointsAccountResource,
    RewardResource,
    TierChangeResource,
    TierResource,
)
from .forms import EarningRuleForm, PointsAdjustForm
from .media import image_clean
from .models import (
    EarningRule,
    EventRule,
    LedgerCheck,
    LedgerEntry,
    Partner,
    PointsAccount,
    ProgramSettings,
    Reward,
    Tier,
    TierChange,
    nip_normalise,
)
from .reconciliation import VIEW_PERMISSION as LEDGER_CHECK_VIEW
from .selectors import member_standing, points_expiring
from .services import PointsError, members_merge, points_adjust
from .tasks import ledger_reconcile_task

ADJUST_PERMISSION = "rewards.adjust_points"
# One adjustment form may touch at most this many members (it runs in one transaction).
MAX_MEMBERS_PER_ADJUSTMENT = 500
NOT_ADJUSTABLE = (Member.Status.MERGED, Member.Status.ERASED)


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


# --- The member admin, with points -----------------------------------------------------------------


class LedgerEntryInline(members_admin.LatestInline):
    model = LedgerEntry
    verbose_name_plural = _("points history (ledger)")
    fields = ["created_at", "kind", "bucket", "points", "reason", "rules_summary", "actor"]
    readonly_fields = fields
    select_related = ("actor",)
    ordering = ["-created_at", "-id"]
    show_change_link = True

    @admin.display(description=_("why"))
    def rules_summary(self, entry):
        return rules_summary(entry.rules)


admin.site.unregister(Member)


@admin.register(Member)
class MemberAdmin(members_admin.MemberAdmin):
    actions = [*members_admin.MemberAdmin.actions, "adjust_points"]
    resource_classes = [MemberPointsResource]
    list_select_related = ["points_account__tier"]
    merge_supported = True
    merge_errors = (PointsError, MemberError)
    points_fields = ["points_balance", "points_pending", "points_expiring", "points_tier"]

    # -- Lists --

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        at = columns.index("display_name") + 1 if "display_name" in columns else len(columns)
        return [*columns[:at], "tier_column", "num_points", *columns[at:]]

    @admin.display(description=_("points"), ordering="points_account__balance")
    def num_points(self, member):
        account = _account_or_none(member)
        return whole(account.balance if account else 0)

    @admin.display(description=_("tier"), ordering="points_account__tier__rank")
    def tier_column(self, member):
        account = _account_or_none(member)
        return account.tier.name if account and account.tier else "—"

    # -- The change page --

    def get_inlines(self, request, obj):
        inlines = list(super().get_inlines(request, obj))
        return [*inlines[:1], LedgerEntryInline, *inlines[1:]]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), *self.points_fields]

    def get_extra_fieldsets(self, request, obj=None):
        if obj is None:
            return []
        return [(_("Points"), {"fields": self.points_fields})]

    def _standing(self, member):
        if not hasattr(member, "_admin_standing"):
            member._admin_standing = member_standing(member=member)
        return member._admin_standing

    @admin.display(description=_("balance"))
    def points_balance(self, member):
        return whole(self._standing(member).balance)

    @admin.display(description=_("pending"))
    def points_pending(self, member):
        return whole(self._standing(member).pending)

    @admin.display(description=_("expiring within 30 days"))
    def points_expiring(self, member):
        return whole(points_expiring(member=member, days=30))

    @admin.display(description=_("tier"))
    def points_tier(self, member):
        standing = self._standing(member)
        current = standing.tier.name if standing.tier else gettext("none")
        if standing.next_tier is None:
            return current
        if standing.next_tier.basis == Tier.Basis.POINTS:
            missing = gettext("%(points)s points") % {"points": whole(standing.missing_to_next)}
        else:
            missing = f"{money(standing.missing_to_next)} zł"
        return gettext("%(tier)s (%(missing)s to %(next)s)") % {
            "tier": current,
            "missing": missing,
            "next": standing.next_tier.name,
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        if self.has_adjust_points_permission(request):
            extra_context["adjust_points_url"] = reverse(
                f"{self.admin_site.name}:members_member_adjust_points", args=[object_id]
            )
        return super().change_view(request, object_id, form_url, extra_context)

    # -- Duplicates --

    def merge_members(self, request, *, survivor, duplicate):
        return members_merge(survivor=survivor, duplicate=duplicate, actor=request.user)

    def duplicate_member_details(self, request, members):
        details = super().duplicate_member_details(request, members)
        accounts = dict(PointsAccount.objects.filter(member__in=members).values_list("member_id", "balance").order_by())
        for member in members:
            details.setdefault(member.pk, []).append((gettext("points"), accounts.get(member.pk, 0)))
        return details

    # -- Adjusting points --

    def get_urls(self):
        return [
            path(
                "<path:object_id>/adjust-points/",
                self.admin_site.admin_view(self.adjust_points_view),
                name="members_member_adjust_points",
            ),
            *super().get_urls(),
        ]

    def has_adjust_points_permission(self, request) -> bool:
        return request.user.has_perm(ADJUST_PERMISSION)

    def changelist_view(self, request, extra_context=None):
        # Django ignores an action the user may not run; refuse it plainly instead.
        if (
            request.method == "POST"
            and request.POST.get("action") == "adjust_points"
            and not self.has_adjust_points_permission(request)
        ):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)

    @admin.action(permissions=["adjust_points"], description=_("Adjust points"))
    def adjust_points(self, request, queryset):
        members = list(queryset.order_by("member_number")[: MAX_MEMBERS_PER_ADJUSTMENT + 1])
        if len(members) > MAX_MEMBERS_PER_ADJUSTMENT:
            messages.error(
                request,
                gettext("Select at most %(max)d members for one adjustment.") % {"max": MAX_MEMBERS_PER_ADJUSTMENT},
            )
            return None
        return self._adjust_points_page(request, members, from_changelist=True)

    def adjust_points_view(self, request, object_id):
        if not self.has_adjust_points_permission(request):
            raise PermissionDenied
        member = self.get_object(request, unquote(object_id))
        if member is None:
            raise Http404
        return self._adjust_points_page(request, [member], from_changelist=False)

    def _adjust_points_page(self, request, members, *, from_changelist: bool):
        """The form (points, reason); posted with `apply`, the adjustment of every member or of none."""
        applying = request.method == "POST" and "apply" in request.POST
        form = PointsAdjustForm(request.POST if applying else None)
        if applying:
            if form.is_valid():
                if self._apply_adjustment(request, members, form.cleaned_data):
                    if from_changelist:
                        return None  # back to the changelist
                    url = reverse(f"{self.admin_site.name}:members_member_change", args=[members[0].pk])
                    return HttpResponseRedirect(url)
            else:
                messages.error(request, gettext("No points were adjusted: correct the form below."))
        balances = dict(PointsAccount.objects.filter(member__in=members).values_list("member_id", "balance").order_by())
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Adjust points"),
            "form": form,
            "rows": [{"member": member, "balance": balances.get(member.pk, 0)} for member in members],
            "from_changelist": from_changelist,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/rewards/adjust_points.html", context)

    def _apply_adjustment(self, request, members, data) -> bool:
        """All members or none: one transaction, and every refusal is reported, not only the first."""
        refused = [
            f"{member.member_number}: {member.get_status_display()}"
            for member in members
            if member.status in NOT_ADJUSTABLE
        ]
        if refused:
            messages.error(request, gettext("No points were adjusted. Not adjustable: %s") % "; ".join(refused))
            return False
        with transaction.atomic():
            for member in members:
                try:
                    points_adjust(
                        member=member,
                        points=data["points"],
                        reason=data["reason"],
                        actor=request.user,
                        # The form's token: posting the same form twice adjusts each member once.
                        idempotency_key=f"admin-adjust:{data['token']}:{member.pk}",
                    )
                except PointsError as exc:
                    refused.append(f"{member.member_number}: {exc}")
            if refused:
                transaction.set_rollback(True)
        if refused:
            messages.error(request, gettext("No points were adjusted, because: %s") % "; ".join(refused))
            return False
        messages.success(
            request,
            ngettext(
                "Adjusted the points of %(count)d member by %(points)+d.",
                "Adjusted the points of %(count)d members by %(points)+d each.",
                len(members),
            )
            % {"count": len(members), "points": data["points"]},
        )
        return True


def _account_or_none(member):
    try:
        return member.points_account
    except PointsAccount.DoesNotExist:
        return None


# --- Programme configuration -----------------------------------------------------------------------


@admin.register(ProgramSettings)
class ProgramSettingsAdmin(admin.ModelAdmin):
    """One row: the list opens it directly; it cannot be added twice or deleted."""

    fieldsets = [
        (_("Earning"), {"fields": ["base_points_per_pln", "max_points_per_purchase", "pending_days"]}),
        (_("Expiry"), {"fields": ["points_lifetime_months"]}),
        (_("Tiers"), {"fields": ["tier_window_months", "tier_grace_days"]}),
    ]

    def has_add_permission(self, request):
        return super().has_add_permission(request) and not ProgramSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        settings = ProgramSettings.objects.first()
        if settings is not None and self.has_view_or_change_permission(request, settings):
            return HttpResponseRedirect(
                reverse(f"{self.admin_site.name}:rewards_programsettings_change", args=[settings.pk])
            )
        return super().changelist_view(request, extra_context)


@admin.register(Tier)
class TierAdmin(SafeExportAdminMixin, admin.ModelAdmin):
    resource_classes = [TierResource]
    list_display = ["rank", "name", "code", "basis", "num_threshold", "num_multiplier", "discount_percent"]
    list_display_links = ["name"]

    @admin.display(description=_("threshold"), ordering="threshold")
    def num_threshold(self, tier):
        return plain(tier.threshold)

    @admin.display(description=_("earning multiplier"), ordering="earn_multiplier")
    def num_multiplier(self, tier):
        return multiplier(tier.earn_multiplier)

    prepopulated_fields = {"code": ["name"]}


@admin.register(EarningRule)
class EarningRuleAdmin(SafeExportAdminMixin, admin.ModelAdmin):
    resource_classes = [EarningRuleResource]
    form = EarningRuleForm
    # The store is a filter and on the rule's page; start and end share one column.
    list_display = ["name", "kind", "is_active", "num_multiplier", "num_bonus", "tier", "period"]
    list_filter = ["kind", "is_active", "tier", "store"]

    @admin.display(description=_("multiplier"), ordering="multiplier")
    def num_multiplier(self, rule):
        return multiplier(rule.multiplier)

    @admin.display(description=_("bonus points"), ordering="bonus_points")
    def num_bonus(self, rule):
        return whole(rule.bonus_points) if rule.bonus_points else "—"

    @admin.display(description=_("valid"), ordering="starts_at")
    def period(self, rule):
        start = date_format(timezone.localtime(rule.starts_at), "SHORT_DATE_FORMAT") if rule.starts_at else ""
        end = date_format(timezone.localtime(rule.ends_at), "SHORT_DATE_FORMAT") if rule.ends_at else ""
        if start and end:
            return f"{start}\u2013{end}"
        if start:
            return gettext("from %(date)s") % {"date": start}
        if end:
            return gettext("until %(date)s") % {"date": end}
        return "—"

    list_select_related = ["tier"]
    search_fields = ["name", "category", "sku"]
    fieldsets = [
        (_("What"), {"fields": ["name", "kind", "is_active", "multiplier", "bonus_points"]}),
        (
            _("Conditions"),
            {
                "fields": ["tier", "store", "category", "sku", "min_basket", "weekdays"],
                "description": _("Empty conditions match every purchase."),
            },
        ),
        (_("Period"), {"fields": ["starts_at", "ends_at"]}),
        (_("Caps"), {"fields": ["max_points"]}),
    ]


@admin.register(EventRule)
class EventRuleAdmin(SafeExportAdminMixin, admin.ModelAdmin):
    resource_classes = [EventRuleResource]
    list_display = ["event", "points", "cap_count", "cap_period", "is_active"]
    list_filter = ["is_active"]


# --- Records written only by the services ----------------------------------------------------------


@admin.register(LedgerEntry)
class LedgerEntryAdmin(members_admin.ViewOnlyAdminMixin, SafeExportAdminMixin, admin.ModelAdmin):
    """The ledger is append-only (a database trigger refuses changes): nobody, superusers included, edits it
    here. Corrections are adjustments, made from the member admin."""

    resource_classes = [LedgerEntryResource]
    # Who posted it (`actor`) is on the entry's page; the bucket is a filter.
    list_display = ["created_at", "member", "kind", "num_points", "reason"]
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
        "reason",
        "rules_table",
        "purchase",
        "reference",
        "related_entry",  # read-only: shown as a link to the entry it releases, reverses or transfers
        "actor",
        "available_at",
        "idempotency_key",
    ]
    readonly_fields = ["rules_table"]

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
    list_display = ["changed_at", "member", "from_tier", "to_tier", "reason"]
    list_filter = ["to_tier", ("changed_at", DateFieldListFilter)]
    list_select_related = ["member", "from_tier", "to_tier"]
    search_fields = ["=member__member_number"]
    show_full_result_count = False


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


# --- The reward catalog ----------------------------------------------------------------------------


def _cleaned_image(upload):
    """A newly uploaded image checked, resized and re-encoded (rewards.media); a kept or cleared one as it is."""
    if isinstance(upload, UploadedFile):
        return image_clean(upload)
    return upload


class PartnerAdminForm(forms.ModelForm):
    """Staff type a NIP and a phone as they have them ('PL 123-456-32-18', '22 123 45 67'); they are stored
    in one form, which the NIP checksum and the imports' matching rely on."""

    # Declared fields get neither the model's capitalised label nor the admin's widths: give them both.
    nip = forms.CharField(
        label=_("NIP"),
        max_length=20,
        required=False,
        help_text=_("Polish tax id, 10 digits."),
        widget=forms.TextInput(attrs={"class": "vTextField"}),
    )
    # As the import does: "www.helios.pl" is https://www.helios.pl.
    website = forms.URLField(
        label=capfirst(_("website")),
        max_length=200,
        required=False,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"class": "vURLField"}),
    )

    class Meta:
        model = Partner
        fields = [
            "name",
            "code",
            "legal_name",
            "nip",
            "is_active",
            "active_from",
            "active_until",
            "contact_name",
            "email",
            "phone",
            "website",
            "logo",
            "description",
        ]

    def clean_logo(self):
        return _cleaned_image(self.cleaned_data.get("logo"))

    def clean_nip(self):
        return nip_normalise(self.cleaned_data["nip"])

    def clean_phone(self):
        phone = self.cleaned_data["phone"]
        if not phone:
            return phone
        try:
            return normalise_phone(phone)
        except ValueError:
            raise forms.ValidationError(
                _("Enter a phone number, e.g. +48221234567 or 22 123 45 67."), code="invalid_phone"
            ) from None


@admin.register(Partner)
class PartnerAdmin(SafeExportAdminMixin, admin.ModelAdmin):
    form = PartnerAdminForm
    # Explicit: the rewards count's GROUP BY drops Meta.ordering, which left the reward form's partner
    # autocomplete in no order (and Django warning about unordered pagination).
    ordering = ["name"]
    resource_classes = [PartnerResource]
    list_display = ["name", "code", "nip", "email", "phone", "rewards_count", "is_active"]
    list_display_links = ["name"]
    list_filter = ["is_active"]
    search_fields = ["code", "name", "legal_name", "nip", "email"]
    prepopulated_fields = {"code": ["name"]}
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "code", "legal_name", "nip", "is_active", ("active_from", "active_until")]}),
        (_("Contact"), {"fields": ["contact_name", "email", "phone", "website"]}),
        (_("About"), {"fields": ["logo", "description"]}),
        (_("Record"), {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(rewards_count=Count("rewards"))

    def get_urls(self):
        from .admin_vouchers import partner_settlement_view

        def settlement(request, object_id):
            return partner_settlement_view(self, request, object_id)

        return [
            path(
                "<path:object_id>/settlement/",
                self.admin_site.admin_view(settlement),
                name="rewards_partner_settlement",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=_("rewards"), ordering="rewards_count")
    def rewards_count(self, partner):
        return partner.rewards_count


class RewardAvailabilityListFilter(admin.SimpleListFilter):
    """Whether members are offered the reward now, and if not, why (the same rules as the catalog's)."""

    title = _("availability")
    parameter_name = "availability"

    def lookups(self, request, model_admin):
        return [
            ("now", _("Available now")),
            ("scheduled", _("Not available yet")),
            ("ended", _("Ended")),
            ("out_of_stock", _("Out of stock")),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        conditions = {
            "now": available_q(now),
            "scheduled": not_yet_available_q(now),
            "ended": ended_q(now),
            "out_of_stock": out_of_stock_q(),
        }
        condition = conditions.get(self.value())
        return queryset.filter(condition) if condition is not None else queryset


class PartnerListFilter(admin.RelatedOnlyFieldListFilter):
    """The partners that supply a reward, and rewards without one named in words rather than "-"."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.empty_value_display = _("No partner (own reward)")


class RewardAdminForm(forms.ModelForm):
    class Meta:
        model = Reward
        fields = ["image"]  # the admin adds the fieldsets' fields

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "voucher_valid_days" in self.fields:  # left empty, it keeps the model's default (30 days)
            self.fields["voucher_valid_days"].required = False

    def clean_image(self):
        return _cleaned_image(self.cleaned_data.get("image"))

    def clean_voucher_valid_days(self):
        days = self.cleaned_data.get("voucher_valid_days")
        return days if days is not None else Reward._meta.get_field("voucher_valid_days").default


@admin.register(Reward)
class RewardAdmin(SafeExportAdminMixin, admin.ModelAdmin):
    form = RewardAdminForm
    resource_classes = [RewardResource]
    # Beside the menu and six filters a list has about 600 px at 1280: ten columns pushed stock, dates and
    # "active" out of sight. The code goes under the name; category and lowest tier are filters.
    list_display = ["name_and_code", "kind", "cost", "partner", "stock_column", "period", "is_active"]
    list_display_links = ["name_and_code"]
    list_filter = [
        "kind",
        RewardAvailabilityListFilter,
        "is_active",
        "category",
        ("partner", PartnerListFilter),
        "min_tier",
    ]
    list_select_related = ["partner"]
    search_fields = ["code", "name", "partner__code", "partner__name"]
    autocomplete_fields = ["partner"]
    filter_horizontal = ["categories"]  # a few shelves: all in view, no second search box
    prepopulated_fields = {"code": ["name"]}
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "code", "kind", "categories", "category", "is_active"]}),
        (_("Cost and value"), {"fields": ["points_cost", "cash_value", "settlement_value"]}),
        (_("Voucher"), {"fields": ["voucher_valid_days", "return_unused"]}),
        (_("Supplied by"), {"fields": ["partner"]}),
        (
            _("Who and when"),
            {
                "fields": ["min_tier", "available_from", "available_until", "stock", "per_member_limit"],
                "description": _("Empty fields do not limit the reward."),
            },
        ),
        (_("For members"), {"fields": ["image", "description", "terms"]}),
        (_("Record"), {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    class Media:
        css = {"all": ["css/admin_catalog.css"]}

    @admin.display(description=pgettext_lazy("catalog", "name"), ordering="name")
    def name_and_code(self, reward):
        return format_html('{}<span class="catalog-code">{}</span>', reward.name, reward.code)

    @admin.display(description=_("points"), ordering="points_cost")
    def cost(self, reward):
        return reward.points_cost

    @admin.display(description=_("stock"), ordering="stock")
    def stock_column(self, reward):
        return gettext("unlimited") if reward.stock is None else reward.stock

    @admin.display(description=_("available"), ordering="available_from")
    def period(self, reward):
        if reward.available_from is None and reward.available_until is None:
            return None  # the admin's empty value, as for an empty partner

        def shown(moment):
            return date_format(timezone.localtime(moment), "SHORT_DATE_FORMAT") if moment else "…"

        # A date never breaks at its hyphens ("24-09-" / "2026"); the range may break after the dash.
        return format_html(
            '<span class="nowrap">{} \N{EN DASH}</span> <span class="nowrap">{}</span>',
            shown(reward.available_from),
            shown(reward.available_until),
        )


# Redemptions, vouchers, the till and the partners' settlement: their own module, registered with the rest.
from . import admin_vouchers  # noqa: E402, F401
