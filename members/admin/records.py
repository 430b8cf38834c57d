"""Purchases, refunds and the audit trail of member changes: view only."""

from django.contrib import admin
from django.contrib.admin import DateFieldListFilter
from django.utils.translation import gettext_lazy as _

from loyalty_site.admin_format import money, plain
from loyalty_site.files.admin_exports import SafeExportAdminMixin

from ..exports import (
    MemberChangeResource,
    PurchaseResource,
    RefundResource,
)
from ..models import (
    MemberChange,
    Purchase,
    PurchaseLine,
    Refund,
)
from .common import ReadOnlyTabularInline, ViewOnlyAdminMixin, can_see_personal_data, masked_change_value

# --- Purchases, refunds, the audit trail -----------------------------------------------------------


class PurchaseLineInline(ReadOnlyTabularInline):
    model = PurchaseLine
    fields = ["sku", "product_name", "category", "num_quantity", "num_amount"]
    readonly_fields = fields

    @admin.display(description=_("quantity"))
    def num_quantity(self, line):
        return plain(line.quantity)

    @admin.display(description=_("amount"))
    def num_amount(self, line):
        return money(line.amount)


class RefundInline(ReadOnlyTabularInline):
    model = Refund
    fields = ["refunded_at", "external_id", "num_amount", "reason"]
    readonly_fields = fields

    @admin.display(description=_("amount"))
    def num_amount(self, refund):
        return money(refund.amount)


@admin.register(Purchase)
class PurchaseAdmin(ViewOnlyAdminMixin, SafeExportAdminMixin, admin.ModelAdmin):
    """Purchases arrive from tills and imports through the services; staff only look."""

    resource_classes = [PurchaseResource]
    # The columns staff need first, so the list fits 1280 px; the source is a filter and on the purchase's page.
    list_display = ["purchased_at", "external_id", "member", "store", "num_amount", "num_refunded"]
    list_filter = ["source", "store", ("purchased_at", DateFieldListFilter)]
    list_select_related = ["member"]
    search_fields = ["=external_id", "=member__member_number"]
    inlines = [PurchaseLineInline, RefundInline]
    show_full_result_count = False

    @admin.display(description=_("amount (PLN)"), ordering="amount")
    def num_amount(self, purchase):
        return money(purchase.amount)

    @admin.display(description=_("refunded (PLN)"), ordering="refunded_amount")
    def num_refunded(self, purchase):
        return money(purchase.refunded_amount) if purchase.refunded_amount else "—"


@admin.register(Refund)
class RefundAdmin(ViewOnlyAdminMixin, SafeExportAdminMixin, admin.ModelAdmin):
    resource_classes = [RefundResource]
    list_display = ["refunded_at", "external_id", "purchase", "num_amount", "reason"]
    list_select_related = ["purchase"]
    list_filter = [("refunded_at", DateFieldListFilter)]
    search_fields = ["=external_id", "=purchase__external_id", "=purchase__member__member_number"]

    @admin.display(description=_("amount"), ordering="amount")
    def num_amount(self, refund):
        return money(refund.amount)


@admin.register(MemberChange)
class MemberChangeAdmin(ViewOnlyAdminMixin, SafeExportAdminMixin, admin.ModelAdmin):
    """Who changed which member field and when."""

    resource_classes = [MemberChangeResource]
    export_personal_data = True
    list_filter = ["field", ("changed_at", DateFieldListFilter)]
    list_select_related = ["member", "actor"]
    search_fields = ["=member__member_number", "actor__username"]
    readonly_fields = ["masked_old_value", "masked_new_value"]
    show_full_result_count = False

    def get_list_display(self, request):
        return self._with_masks(["changed_at", "member", "field", "old_value", "new_value", "actor", "note"], request)

    def get_fields(self, request, obj=None):
        return self._with_masks(["member", "changed_at", "field", "old_value", "new_value", "actor", "note"], request)

    def _with_masks(self, fields, request):
        if can_see_personal_data(request):
            return fields
        return [{"old_value": "masked_old_value", "new_value": "masked_new_value"}.get(f, f) for f in fields]

    @admin.display(description=_("old value"))
    def masked_old_value(self, change):
        return masked_change_value(change, change.old_value)

    @admin.display(description=_("new value"))
    def masked_new_value(self, change):
        return masked_change_value(change, change.new_value)
