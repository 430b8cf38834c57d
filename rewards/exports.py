"""Spreadsheet exports of the points economy, on the safe base in `loyalty_site.files.exports` (see there)."""

from import_export import widgets

from loyalty_site.files.exports import SafeExportResource, related
from members.exports import MemberResource

from .models import EarningRule, EventRule, LedgerEntry, Partner, PointsAccount, Reward, Tier, TierChange
from .reasons import entry_reason


class MemberPointsResource(MemberResource):
    """Members with their points: the member export of the admin (members cannot import rewards)."""

    tier = related("points_account__tier__code", "tier")
    balance = related("points_account__balance", "balance", widgets.IntegerWidget())
    pending = related("points_account__pending", "pending", widgets.IntegerWidget())
    select_related = ("points_account__tier",)

    class Meta(MemberResource.Meta):
        fields = (*MemberResource.Meta.fields, "tier", "balance", "pending")
        export_order = fields

    # A member without an account has no points yet: 0, as the member list shows.
    def dehydrate_balance(self, member):
        account = getattr(member, "points_account", None)
        return account.balance if account else 0

    def dehydrate_pending(self, member):
        account = getattr(member, "points_account", None)
        return account.pending if account else 0


class LedgerEntryResource(SafeExportResource):
    member_number = related("member__member_number", "member_number")
    purchase_source = related("purchase__source", "purchase_source")
    purchase_external_id = related("purchase__external_id", "purchase_external_id")
    actor = related("actor__username", "actor")
    select_related = ("member", "purchase", "actor")

    class Meta:
        model = LedgerEntry
        fields = (
            "created_at",
            "member_number",
            "kind",
            "bucket",
            "points",
            "reason",
            "reference",
            "purchase_source",
            "purchase_external_id",
            "actor",
            "available_at",
        )
        export_order = fields

    # The reason as a sentence in the language of the export (a code and parameters, or an older sentence).
    def dehydrate_reason(self, entry):
        return entry_reason(entry)


class PointsAccountResource(SafeExportResource):
    member_number = related("member__member_number", "member_number")
    tier = related("tier__code", "tier")
    select_related = ("member", "tier")

    class Meta:
        model = PointsAccount
        fields = ("member_number", "balance", "pending", "tier", "tier_since", "tier_below_since", "updated_at")
        export_order = fields


class TierResource(SafeExportResource):
    class Meta:
        model = Tier
        fields = ("rank", "code", "name", "basis", "threshold", "earn_multiplier", "discount_percent", "benefits")
        export_order = fields


class EarningRuleResource(SafeExportResource):
    tier = related("tier__code", "tier")
    select_related = ("tier",)

    class Meta:
        model = EarningRule
        fields = (
            "name",
            "kind",
            "is_active",
            "multiplier",
            "bonus_points",
            "tier",
            "store",
            "category",
            "sku",
            "min_basket",
            "weekdays",
            "starts_at",
            "ends_at",
            "max_points",
        )
        export_order = fields


class EventRuleResource(SafeExportResource):
    class Meta:
        model = EventRule
        fields = ("event", "points", "cap_count", "cap_period", "is_active")
        export_order = fields


class TierChangeResource(SafeExportResource):
    member_number = related("member__member_number", "member_number")
    from_tier = related("from_tier__code", "from_tier")
    to_tier = related("to_tier__code", "to_tier")
    select_related = ("member", "from_tier", "to_tier")

    class Meta:
        model = TierChange
        fields = ("changed_at", "member_number", "from_tier", "to_tier", "reason")
        export_order = fields

    def dehydrate_reason(self, change):
        return entry_reason(change)


# The catalog's columns are the import's (rewards.catalog_resources), so an export can be edited and imported
# back: partner and tier by code, kinds by code, yes/no as 1/0.


class PartnerResource(SafeExportResource):
    class Meta:
        model = Partner
        fields = ("code", "name", "legal_name", "nip", "email", "phone", "website", "description", "is_active")
        export_order = fields


class RewardResource(SafeExportResource):
    partner = related("partner__code", "partner")
    min_tier = related("min_tier__code", "min_tier")
    select_related = ("partner", "min_tier")

    class Meta:
        model = Reward
        fields = (
            "code",
            "name",
            "kind",
            "category",
            "points_cost",
            "cash_value",
            "partner",
            "min_tier",
            "stock",
            "per_member_limit",
            "available_from",
            "available_until",
            "is_active",
            "description",
            "terms",
        )
        export_order = fields
