"""The member admin: list, search, the member's page (with the panels other apps register, members.admin_panels),
duplicates and merge, unlocking a portal login."""

from django.contrib import admin, messages
from django.contrib.admin import DateFieldListFilter
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty_site.files.admin_exports import SafeExportAdminMixin
from loyalty_site.login_throttle.admin import UNLOCK_PERMISSION
from loyalty_site.login_throttle.services import login_unlock

from .. import admin_panels
from ..exports import (
    MemberResource,
)
from ..forms import (
    LoyaltyCardInlineForm,
    MemberAdminForm,
    MemberMergeForm,
    mask_date,
    mask_email,
    mask_phone,
)
from ..models import (
    Channel,
    ConsentEvent,
    LoyaltyCard,
    Member,
    MemberChange,
    Purchase,
)
from ..phones import normalise_phone
from ..selectors import member_duplicate_groups, members_with_consent
from ..services import AUDITED_FIELDS, MemberError, member_enroll, member_update
from .common import (
    MASKERS,
    MERGE_PERMISSION,
    PERSONAL_FIELDS,
    LatestInline,
    can_see_personal_data,
    mask_fields,
    masked_change_value,
)


class LoyaltyCardInline(admin.TabularInline):
    model = LoyaltyCard
    form = LoyaltyCardInlineForm
    extra = 0
    fields = ["number", "is_active", "issued_at"]
    readonly_fields = ["issued_at"]
    can_delete = False

    def has_delete_permission(self, request, obj=None):
        return False


class ConsentEventInline(LatestInline):
    model = ConsentEvent
    limit = 30
    fields = ["created_at", "channel", "purpose", "granted", "text", "source", "actor"]
    readonly_fields = fields
    select_related = ("text", "actor")
    ordering = ["-created_at", "-id"]


class PurchaseInline(LatestInline):
    model = Purchase
    limit = 10
    fields = ["purchased_at", "external_id", "source", "store", "amount", "refunded_amount"]
    readonly_fields = fields
    ordering = ["-purchased_at", "-id"]
    show_change_link = True


class MemberChangeInline(LatestInline):
    model = MemberChange
    verbose_name_plural = _("change history")
    fields = ["changed_at", "field", "old_value", "new_value", "actor", "note"]
    readonly_fields = [*fields, "masked_old_value", "masked_new_value"]
    select_related = ("actor",)
    ordering = ["-changed_at", "-id"]

    def get_fields(self, request, obj=None):
        if can_see_personal_data(request):
            return self.fields
        return [{"old_value": "masked_old_value", "new_value": "masked_new_value"}.get(f, f) for f in self.fields]

    @admin.display(description=_("old value"))
    def masked_old_value(self, change):
        return masked_change_value(change, change.old_value)

    @admin.display(description=_("new value"))
    def masked_new_value(self, change):
        return masked_change_value(change, change.new_value)


# --- List filters ----------------------------------------------------------------------------------


class TopCityListFilter(admin.SimpleListFilter):
    """The most common cities, with member counts; a free city can still be searched for."""

    title = _("city")
    parameter_name = "city"
    limit = 15

    def lookups(self, request, model_admin):
        rows = (
            Member.objects.exclude(city="")
            .values("city")
            .annotate(members=Count("id"))
            .order_by("-members", "city")[: self.limit]
        )
        return [(row["city"], f"{row['city']} ({row['members']})") for row in rows]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(city=self.value())
        return queryset


class MarketingConsentListFilter(admin.SimpleListFilter):
    title = _("marketing consent")
    parameter_name = "consent"

    def lookups(self, request, model_admin):
        return [
            ("email:yes", _("Email marketing consent: yes")),
            ("email:no", _("Email marketing consent: no")),
            ("sms:yes", _("SMS marketing consent: yes")),
            ("sms:no", _("SMS marketing consent: no")),
        ]

    def queryset(self, request, queryset):
        channel, _sep, answer = (self.value() or "").partition(":")
        if channel not in Channel.values or answer not in ("yes", "no"):
            return queryset
        consenting = members_with_consent(channel=channel).values("pk")
        if answer == "yes":
            return queryset.filter(pk__in=consenting)
        return queryset.exclude(pk__in=consenting)


# --- Member ----------------------------------------------------------------------------------------


@admin.register(Member)
class MemberAdmin(SafeExportAdminMixin, admin.ModelAdmin):
    """Members. Saving goes through `member_enroll` / `member_update`, so every staff edit is audited."""

    form = MemberAdminForm
    # Named, so that the export mixin keeps it (with "Likely duplicates") under its Export link.
    change_list_template = "admin/members/member/change_list.html"
    resource_classes = [MemberResource]
    export_personal_data = True
    list_display_links = ["member_number"]
    list_filter = [
        "status",
        TopCityListFilter,
        ("joined_at", DateFieldListFilter),
        "join_source",
        MarketingConsentListFilter,
    ]
    list_per_page = 50
    search_help_text = _("Member number, card number, name, email or phone (e.g. 601 234 567).")
    show_full_result_count = False  # a second COUNT(*) over all members on every page is not worth it
    ordering = ["-joined_at", "-id"]
    raw_id_fields = ["referred_by"]
    inlines = [LoyaltyCardInline, ConsentEventInline, PurchaseInline, MemberChangeInline]
    actions = ["unlock_login"]
    readonly_fields = [
        "member_number",
        "referral_code",
        "joined_at",
        "merged_into",
        "portal_login",
        *PERSONAL_FIELDS.values(),
    ]

    # Merging moves points too, so `rewards.admin` supplies it (see `merge_members`).
    merge_supported = False
    merge_errors: tuple[type[Exception], ...] = (MemberError,)

    # -- Lists and search --

    def get_list_display(self, request):
        # The columns staff need first, so the list fits 1280 px; email, phone and the join date are on the
        # member's page, searchable (email, phone) or a filter (join date).
        return ["member_number", "display_name", "status", "city"]

    def get_search_fields(self, request):
        # Without the personal-data permission, email and phone match only whole values: a substring
        # search would let anyone guess addresses letter by letter.
        if can_see_personal_data(request):
            return ["=member_number", "=cards__number", "first_name", "last_name", "email", "phone"]
        return ["=member_number", "=cards__number", "first_name", "last_name", "=email", "=phone"]

    def get_search_results(self, request, queryset, search_term):
        results, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        try:
            phone = normalise_phone(search_term)
        except ValueError:
            phone = ""  # not a phone number: the other fields were searched
        if phone and phone != search_term.strip():
            # "601 234 567" finds +48601234567.
            results = results | queryset.filter(phone=phone)
        return results, may_have_duplicates

    @admin.display(description=_("name"), ordering="last_name")
    def display_name(self, member):
        return member.full_name

    @admin.display(description=_("joined"), ordering="joined_at")
    def joined_on(self, member):
        return date_format(timezone.localtime(member.joined_at), "SHORT_DATE_FORMAT")

    @admin.display(description=_("email"))
    def masked_email(self, member):
        return mask_email(member.email)

    @admin.display(description=_("phone"))
    def masked_phone(self, member):
        return mask_phone(member.phone)

    @admin.display(description=_("birth date"))
    def masked_birth_date(self, member):
        return mask_date(member.birth_date)

    @admin.display(description=_("portal login"))
    def portal_login(self, member):
        if member.user_id is None:
            return gettext("none")
        return gettext("yes")

    # -- The form --

    def get_fieldsets(self, request, obj=None):
        programme = ["join_source", "referred_by"]
        if obj is not None:
            programme = ["join_source", "joined_at", "referral_code", "referred_by", "merged_into", "portal_login"]
        fieldsets = [
            (None, {"fields": (["member_number"] if obj else []) + ["first_name", "last_name", "status"]}),
            (_("Contact"), {"fields": ["email", "phone", "preferred_channel", "preferred_language"]}),
            (_("Profile"), {"fields": ["birth_date", "gender", "city", "postal_code"]}),
            (_("Programme"), {"fields": programme}),
        ]
        fieldsets = [
            (name, {**options, "fields": mask_fields(options["fields"], request)}) for name, options in fieldsets
        ]
        return fieldsets + self.get_extra_fieldsets(request, obj)

    def get_extra_fieldsets(self, request, obj=None):
        """Hook for sections other apps add (rewards: the points account)."""
        return []

    def get_changeform_initial_data(self, request):
        return {"join_source": Member.JoinSource.ADMIN, **super().get_changeform_initial_data(request)}

    def has_delete_permission(self, request, obj=None):
        return False  # members are erased (GDPR) or merged, never deleted

    def save_model(self, request, obj, form, change):
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data if name in AUDITED_FIELDS}
            if changes:
                member_update(member=obj, actor=request.user, changes=changes, note="admin")
            return
        # Enrolled like every member who joins: audited with who added them, and announced (the joining bonus).
        fields = {name: form.cleaned_data[name] for name in AUDITED_FIELDS if name in form.cleaned_data}
        created = member_enroll(
            actor=request.user,
            join_source=fields.pop("join_source", None) or Member.JoinSource.ADMIN,
            note="admin",
            **fields,
        )
        # The admin keeps working with `obj` (inlines point at it): make it the created member.
        for field in Member._meta.concrete_fields:
            setattr(obj, field.attname, getattr(created, field.attname))
        obj._state.adding = False
        obj._state.db = created._state.db

    # -- Likely duplicates and merging --

    def change_view(self, request, object_id, form_url="", extra_context=None):
        # Panels and buttons other apps register (members.admin_panels): rewards, analytics.
        extra_context = extra_context or {}
        member = self.get_object(request, object_id)
        if member is not None:
            extra_context["member_panels"] = admin_panels.bound_panels(request, member)
            extra_context["member_tools"] = admin_panels.bound_tools(request, member)
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path("duplicates/", self.admin_site.admin_view(self.duplicates_view), name=f"{prefix}_duplicates"),
            path("duplicates/merge/", self.admin_site.admin_view(self.merge_view), name=f"{prefix}_merge"),
            *super().get_urls(),
        ]

    def has_merge_permission(self, request) -> bool:
        return self.merge_supported and request.user.has_perm(MERGE_PERMISSION)

    def merge_members(self, request, *, survivor: Member, duplicate: Member) -> Member:
        """Merge `duplicate` into `survivor`. Implemented by rewards.admin, which owns the points."""
        raise NotImplementedError

    def duplicate_member_details(self, request, members) -> dict[int, list]:
        """(label, value) pairs per member for the duplicates and merge pages; rewards adds the points."""
        purchases = dict(
            Purchase.objects.filter(member__in=members)
            .values("member_id")
            .annotate(count=Count("id"))
            .values_list("member_id", "count")
            .order_by()
        )
        return {member.pk: [(gettext("purchases"), purchases.get(member.pk, 0))] for member in members}

    def _member_rows(self, request, members):
        show_personal = can_see_personal_data(request)
        details = self.duplicate_member_details(request, members)
        return [
            {
                "member": member,
                "email": member.email if show_personal else mask_email(member.email),
                "phone": member.phone if show_personal else mask_phone(member.phone),
                "details": details.get(member.pk, []),
            }
            for member in members
        ]

    def duplicates_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        groups = member_duplicate_groups()
        show_personal = can_see_personal_data(request)
        rows = []
        for group in groups:
            masker = MASKERS[group["field"]]
            rows.append(
                {
                    "field": Member._meta.get_field(group["field"]).verbose_name,
                    "value": group["value"] if show_personal else masker(group["value"]),
                    "survivor": group["members"][0],
                    "members": self._member_rows(request, group["members"]),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Likely duplicates"),
            "groups": rows,
            "can_merge": self.has_merge_permission(request),
        }
        return TemplateResponse(request, "admin/members/member/duplicates.html", context)

    def merge_view(self, request):
        """POST survivor + duplicate: a confirmation page; POST again with confirm=1: the merge."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_merge_permission(request):
            raise PermissionDenied
        duplicates_url = reverse(f"{self.admin_site.name}:members_member_duplicates")
        form = MemberMergeForm(request.POST)
        if not form.is_valid():
            problems = [str(error) for errors in form.errors.values() for error in errors]
            messages.error(request, gettext("The members were not merged: %s") % " ".join(problems))
            return HttpResponseRedirect(duplicates_url)
        survivor, duplicate = form.cleaned_data["survivor"], form.cleaned_data["duplicate"]
        if not form.cleaned_data["confirm"]:
            context = {
                **self.admin_site.each_context(request),
                "opts": self.opts,
                "title": gettext("Merge members?"),
                "survivor": self._member_rows(request, [survivor])[0],
                "duplicate": self._member_rows(request, [duplicate])[0],
            }
            return TemplateResponse(request, "admin/members/member/merge_confirm.html", context)
        try:
            self.merge_members(request, survivor=survivor, duplicate=duplicate)
        except self.merge_errors as exc:
            messages.error(request, gettext("The members were not merged: %s") % exc)
            return HttpResponseRedirect(duplicates_url)
        survivor_url = reverse(f"{self.admin_site.name}:members_member_change", args=[survivor.pk])
        messages.success(
            request,
            format_html(
                gettext("Member {} was merged into {}."),
                duplicate.member_number,
                format_html('<a href="{}">{}</a>', survivor_url, survivor.member_number),
            ),
        )
        return HttpResponseRedirect(duplicates_url)

    # --- Login ------------------------------------------------------------------------------------------

    def has_unlock_login_permission(self, request) -> bool:
        return request.user.has_perm(UNLOCK_PERMISSION)

    @admin.action(permissions=["unlock_login"], description=_("Unlock login"))
    def unlock_login(self, request, queryset):
        """Support staff at the counter: a member locked out by failed logins can log in again at once."""
        members = [member for member in queryset.select_related("user") if member.user_id]
        for member in members:
            login_unlock(username=member.user.get_username(), actor=request.user)
            self.log_change(request, member, gettext("Unlocked login (failed attempts cleared)."))
        self.message_user(
            request,
            ngettext(
                "Unlocked %(count)d login: it can be used again at once.",
                "Unlocked %(count)d logins: they can be used again at once.",
                len(members),
            )
            % {"count": len(members)},
            messages.SUCCESS,
        )
