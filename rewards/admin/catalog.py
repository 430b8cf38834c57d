"""The reward catalog: rewards, with the availability and partner filters."""

from django import forms
from django.contrib import admin
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from loyalty_site.files.admin_exports import SafeExportAdminMixin

from ..catalog import available_q, ended_q, not_yet_available_q, out_of_stock_q
from ..exports import (
    RewardResource,
)
from ..models import (
    Reward,
)
from .partners import cleaned_image


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
        return cleaned_image(self.cleaned_data.get("image"))

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
