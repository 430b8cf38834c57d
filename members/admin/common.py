"""What every admin of the members app shares: personal data masked unless staff may see it, view-only
admins, inlines that show the latest rows."""

from django.contrib import admin
from django.forms.models import BaseInlineFormSet

from ..forms import (
    mask_date,
    mask_email,
    mask_phone,
)
from ..models import (
    MemberChange,
)

PERSONAL_DATA_PERMISSION = "members.view_member_personal_data"


MERGE_PERMISSION = "members.merge_members"


# Member fields holding personal data, and the masked display shown instead to staff without the permission.
PERSONAL_FIELDS = {"email": "masked_email", "phone": "masked_phone", "birth_date": "masked_birth_date"}


MASKERS = {"email": mask_email, "phone": mask_phone, "birth_date": mask_date}


def can_see_personal_data(request) -> bool:
    return request.user.has_perm(PERSONAL_DATA_PERMISSION)


def mask_fields(fields, request):
    """`fields` with personal-data fields swapped for their masked displays when the user may not see them."""
    if can_see_personal_data(request):
        return list(fields)
    return [PERSONAL_FIELDS.get(name, name) for name in fields]


class ViewOnlyAdminMixin:
    """Records nobody edits in the admin (append-only or written by services): view permission only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Inlines ---------------------------------------------------------------------------------------


class LatestInlineFormSet(BaseInlineFormSet):
    """Only the newest `limit` rows of a long history; the template links to the full list."""

    limit = 20

    def get_queryset(self):
        if not hasattr(self, "_latest"):
            rows = list(super().get_queryset()[: self.limit + 1])
            self.is_truncated = len(rows) > self.limit
            self._latest = rows[: self.limit]
        return self._latest


class ReadOnlyTabularInline(ViewOnlyAdminMixin, admin.TabularInline):
    """Rows shown as a plain table (no add, change or delete), without Django's str() line above each row."""

    extra = 0
    template = "admin/edit_inline/tabular_latest.html"


class LatestInline(ReadOnlyTabularInline):
    """A read-only inline of the newest rows with a link to all of them in their own changelist."""

    limit = 20
    formset = LatestInlineFormSet
    # The changelist filter that lists all rows of the parent object.
    changelist_lookup = "member__id__exact"
    select_related: tuple[str, ...] = ()

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        return queryset.select_related(*self.select_related) if self.select_related else queryset

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        formset.limit = self.limit
        return formset


def masked_change_value(change: MemberChange, value: str) -> str:
    masker = MASKERS.get(change.field)
    return masker(value) if masker else value
