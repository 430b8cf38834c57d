"""The spreadsheet exports of members' data, on the safe base in `loyalty_site.files.exports` (see there)."""

from loyalty_site.files.exports import SafeExportResource, related

from .models import ConsentEvent, ConsentText, Member, MemberChange, Purchase, Refund

# --- Resources -------------------------------------------------------------------------------------
# Column names are the import's column names where there is an import (members), so an export can be
# edited and imported back; elsewhere they are the same plain snake_case words. Choices export their
# codes ("active", "email"), which stay the same in every language. Nothing secret leaves: no logins,
# referral codes or idempotency keys.


class MemberResource(SafeExportResource):
    """Members' profiles: personal data. `rewards.exports` adds the points."""

    class Meta:
        model = Member
        fields = (
            "member_number",
            "first_name",
            "last_name",
            "email",
            "phone",
            "birth_date",
            "gender",
            "city",
            "postal_code",
            "preferred_language",
            "preferred_channel",
            "status",
            "join_source",
            "joined_at",
        )
        export_order = fields


class ConsentTextResource(SafeExportResource):
    class Meta:
        model = ConsentText
        fields = ("channel", "purpose", "version", "valid_from", "text", "created_at")
        export_order = fields


class ConsentEventResource(SafeExportResource):
    member_number = related("member__member_number", "member_number")
    text_version = related("text__version", "text_version")
    actor = related("actor__username", "actor")
    select_related = ("member", "text", "actor")

    class Meta:
        model = ConsentEvent
        fields = ("created_at", "member_number", "channel", "purpose", "granted", "source", "text_version", "actor")
        export_order = fields


class PurchaseResource(SafeExportResource):
    member_number = related("member__member_number", "member_number")
    select_related = ("member",)

    class Meta:
        model = Purchase
        fields = ("purchased_at", "source", "external_id", "member_number", "store", "amount", "refunded_amount")
        export_order = fields


class RefundResource(SafeExportResource):
    purchase_source = related("purchase__source", "purchase_source")
    purchase_external_id = related("purchase__external_id", "purchase_external_id")
    member_number = related("purchase__member__member_number", "member_number")
    select_related = ("purchase__member",)

    class Meta:
        model = Refund
        fields = (
            "refunded_at",
            "external_id",
            "purchase_source",
            "purchase_external_id",
            "member_number",
            "amount",
            "reason",
        )
        export_order = fields


class MemberChangeResource(SafeExportResource):
    """The audit trail: old and new values are personal data (emails, phones, birth dates)."""

    member_number = related("member__member_number", "member_number")
    actor = related("actor__username", "actor")
    select_related = ("member", "actor")

    class Meta:
        model = MemberChange
        fields = ("changed_at", "member_number", "field", "old_value", "new_value", "actor", "note")
        export_order = fields
