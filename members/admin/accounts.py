"""The portal's account records, view only: the one-time tokens sent to members (claim a membership, confirm an
email) and members' data export requests. Support staff look at them when a member says a code never came or
an export never finished; nobody edits them (services write them) and no secret is shown: tokens keep only
hashes, which the admin does not show either, and an export's file is the member's to download, not staff's."""

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from ..forms import mask_email, mask_phone
from ..models import AccountToken, DataExport
from .common import ViewOnlyAdminMixin, can_see_personal_data


@admin.register(AccountToken)
class AccountTokenAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "member", "purpose", "channel", "destination", "state", "attempts"]
    list_filter = ["purpose", "channel", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["member"]
    search_fields = ["=member__member_number"]
    show_full_result_count = False
    fields = ["member", "purpose", "channel", "destination", "state", "attempts", "created_at", "expires_at", "used_at"]
    readonly_fields = fields

    def _masked(self, request, names):
        """The email or phone the secret went to is personal data: masked for staff who may not see it."""
        if can_see_personal_data(request):
            return list(names)
        return ["masked_destination" if name == "destination" else name for name in names]

    def get_list_display(self, request):
        return self._masked(request, super().get_list_display(request))

    def get_fields(self, request, obj=None):
        return self._masked(request, super().get_fields(request, obj))

    def get_readonly_fields(self, request, obj=None):
        return self._masked(request, super().get_readonly_fields(request, obj))

    @admin.display(description=_("sent to"))
    def masked_destination(self, token: AccountToken) -> str:
        return mask_email(token.destination) if "@" in token.destination else mask_phone(token.destination)

    @admin.display(description=_("state"))
    def state(self, token: AccountToken) -> str:
        if token.used_at is not None:
            return pgettext_lazy("account token state", "used")
        if token.expires_at <= timezone.now():
            return pgettext_lazy("account token state", "expired")
        return pgettext_lazy("account token state", "waiting")


@admin.register(DataExport)
class DataExportAdmin(ViewOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["created_at", "member", "format", "status", "finished_at", "has_file"]
    list_filter = ["status", "format", ("created_at", admin.DateFieldListFilter)]
    list_select_related = ["member"]
    search_fields = ["=member__member_number"]
    show_full_result_count = False
    fields = ["member", "format", "status", "created_at", "finished_at", "has_file"]
    readonly_fields = fields

    @admin.display(description=_("file written"), boolean=True)
    def has_file(self, export: DataExport) -> bool:
        return bool(export.file)
