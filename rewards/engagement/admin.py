"""Staff pages for challenges, badges, referrals and leaderboards. Actions call services; progress, completions
and referrals are written only by the posting hooks and the services, so staff see them read-only."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from loyalty_site.admin_format import plain, whole
from loyalty_site.files.admin_exports import SafeExportAdminMixin
from loyalty_site.files.import_forms import may_import

from .admin_forms import BadgeForm, ChallengeForm
from .models import (
    Badge,
    BadgeAward,
    Challenge,
    ChallengeCompletion,
    ChallengeProgress,
    EngagementSettings,
    LeaderboardProfile,
    Referral,
)
from .resources import (
    BadgeAwardResource,
    BadgeResource,
    ChallengeCompletionResource,
    ChallengeResource,
    ReferralResource,
)
from .services import challenge_recalculate


class FileImportLinkMixin:
    """ "Import a file" on the changelist, opening the import page with `file_import_kind` chosen."""

    file_import_kind = ""
    import_export_change_list_template = "admin/engagement/change_list_import.html"

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        if may_import(request.user, self.file_import_kind):
            extra_context["file_import_url"] = (
                reverse(f"{self.admin_site.name}:files_importjob_upload") + f"?kind={self.file_import_kind}"
            )
        return super().changelist_view(request, extra_context)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Challenge)
class ChallengeAdmin(FileImportLinkMixin, SafeExportAdminMixin, admin.ModelAdmin):
    file_import_kind = "challenges"
    form = ChallengeForm
    resource_classes = [ChallengeResource]
    list_display = (
        "name",
        "kind",
        "num_target",
        "starts_at",
        "ends_at",
        "num_points",
        "badge",
        "audience",
        "is_active",
    )
    list_filter = ("is_active", "kind", "audience")

    @admin.display(description=_("target"), ordering="target")
    def num_target(self, challenge):
        return plain(challenge.target)

    @admin.display(description=_("prize (points)"), ordering="points")
    def num_points(self, challenge):
        return whole(challenge.points)

    search_fields = ("name", "code")
    prepopulated_fields = {"code": ("name",)}
    date_hierarchy = "starts_at"
    actions = ["recalculate"]
    fieldsets = (
        (None, {"fields": ("code", "name", "description", "is_active")}),
        (_("Goal"), {"fields": ("kind", "target", "category", "store", "starts_at", "ends_at")}),
        (_("Prize"), {"fields": ("points", "badge")}),
        (_("Audience"), {"fields": ("audience", "tier", "audience_kind", "audience_ref")}),
    )

    @admin.action(permissions=["change"], description=_("Count progress again and award who reached the target"))
    def recalculate(self, request, queryset):
        completed = sum(challenge_recalculate(challenge=challenge) for challenge in queryset)
        self.message_user(
            request,
            ngettext("%(count)d member completed a challenge.", "%(count)d members completed a challenge.", completed)
            % {"count": completed},
            messages.SUCCESS,
        )


@admin.register(Badge)
class BadgeAdmin(FileImportLinkMixin, SafeExportAdminMixin, admin.ModelAdmin):
    file_import_kind = "badges"
    form = BadgeForm
    resource_classes = [BadgeResource]
    list_display = ("name", "code", "milestone", "tier", "is_active")
    list_filter = ("is_active", "milestone")
    search_fields = ("name", "code")
    prepopulated_fields = {"code": ("name",)}


@admin.register(BadgeAward)
class BadgeAwardAdmin(SafeExportAdminMixin, admin.ModelAdmin):
    resource_classes = [BadgeAwardResource]
    list_display = ("member", "badge", "awarded_at", "challenge")
    list_filter = ("badge",)
    search_fields = ("member__member_number", "member__last_name")
    raw_id_fields = ("member", "challenge")
    list_select_related = ("member", "badge", "challenge")

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(ChallengeProgress)
class ChallengeProgressAdmin(ReadOnlyAdmin):
    list_display = ("challenge", "member", "num_value", "updated_at")
    list_filter = ("challenge",)

    @admin.display(description=_("progress"), ordering="value")
    def num_value(self, progress):
        return plain(progress.value)

    search_fields = ("member__member_number",)
    list_select_related = ("challenge", "member")


@admin.register(ChallengeCompletion)
class ChallengeCompletionAdmin(SafeExportAdminMixin, ReadOnlyAdmin):
    resource_classes = [ChallengeCompletionResource]
    list_display = ("challenge", "member", "completed_at", "entry")
    list_filter = ("challenge",)
    search_fields = ("member__member_number",)
    list_select_related = ("challenge", "member", "entry")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Referral)
class ReferralAdmin(SafeExportAdminMixin, ReadOnlyAdmin):
    resource_classes = [ReferralResource]
    list_display = ("referee", "referrer", "status", "refusal", "created_at", "decided_at")
    list_filter = ("status", "refusal")
    search_fields = ("referee__member_number", "referrer__member_number")
    list_select_related = ("referee", "referrer")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(LeaderboardProfile)
class LeaderboardProfileAdmin(admin.ModelAdmin):
    list_display = ("display_name", "member", "opted_in", "updated_at")
    list_filter = ("opted_in",)
    search_fields = ("display_name", "member__member_number")
    raw_id_fields = ("member",)

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(EngagementSettings)
class EngagementSettingsAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, obj=None) -> bool:
        return not EngagementSettings.objects.exists()

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
