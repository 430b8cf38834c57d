"""Spreadsheet exports of challenges, badges, completions and referrals, on the safe base of
`loyalty_site.files.exports` (whitelisted columns, text neutralised against formula injection)."""

from loyalty_site.files.exports import SafeExportResource, related

from .models import Badge, BadgeAward, Challenge, ChallengeCompletion, Referral


class ChallengeResource(SafeExportResource):
    badge = related("badge__code", "badge")
    tier = related("tier__code", "tier")
    select_related = ("badge", "tier")

    class Meta:
        model = Challenge
        fields = (
            "code",
            "name",
            "description",
            "kind",
            "target",
            "category",
            "store",
            "starts_at",
            "ends_at",
            "points",
            "badge",
            "audience",
            "tier",
            "audience_kind",
            "audience_ref",
            "is_active",
        )
        export_order = fields


class BadgeResource(SafeExportResource):
    tier = related("tier__code", "tier")
    select_related = ("tier",)

    class Meta:
        model = Badge
        fields = ("code", "name", "description", "milestone", "tier", "is_active")
        export_order = fields


class BadgeAwardResource(SafeExportResource):
    member_number = related("member__member_number", "member_number")
    badge = related("badge__code", "badge")
    challenge = related("challenge__code", "challenge")
    select_related = ("member", "badge", "challenge")

    class Meta:
        model = BadgeAward
        fields = ("member_number", "badge", "awarded_at", "challenge")
        export_order = fields


class ChallengeCompletionResource(SafeExportResource):
    challenge = related("challenge__code", "challenge")
    member_number = related("member__member_number", "member_number")
    points = related("entry__points", "points")
    select_related = ("challenge", "member", "entry")

    class Meta:
        model = ChallengeCompletion
        fields = ("challenge", "member_number", "completed_at", "points")
        export_order = fields


class ReferralResource(SafeExportResource):
    referee = related("referee__member_number", "referee")
    referrer = related("referrer__member_number", "referrer")
    select_related = ("referee", "referrer")

    class Meta:
        model = Referral
        fields = ("referrer", "referee", "status", "refusal", "created_at", "decided_at")
        export_order = fields
