"""The programme's configuration: settings, tiers, earning rules and event rules."""

from django.contrib import admin
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty_site.admin_format import multiplier, plain, whole
from loyalty_site.files.admin_exports import SafeExportAdminMixin

from ..exports import (
    EarningRuleResource,
    EventRuleResource,
    TierResource,
)
from ..forms import EarningRuleForm
from ..models import (
    EarningRule,
    EventRule,
    ProgramSettings,
    Tier,
)


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
