"""The member admin with points: `members` may not import `rewards`, so the member admin registered by
`members.admin` is replaced here by a subclass that adds what needs the points: the ledger inline, the points
account, the "Adjust points" action and the merge of duplicates (which moves points as well as history)."""

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty_site.admin_format import money, whole
from members import admin as members_admin
from members.models import Member
from members.services import MemberError

from ..exports import (
    MemberPointsResource,
)
from ..forms import PointsAdjustForm
from ..models import (
    LedgerEntry,
    PointsAccount,
    Tier,
)
from ..reasons import entry_reason
from ..selectors import member_standing, points_expiring
from ..services import PointsError, members_merge, points_adjust
from .ledger import rules_summary

ADJUST_PERMISSION = "rewards.adjust_points"
# One adjustment form may touch at most this many members (it runs in one transaction).
MAX_MEMBERS_PER_ADJUSTMENT = 500
NOT_ADJUSTABLE = (Member.Status.MERGED, Member.Status.ERASED)


class LedgerEntryInline(members_admin.LatestInline):
    model = LedgerEntry
    verbose_name_plural = _("points history (ledger)")
    fields = ["created_at", "kind", "bucket", "points", "reason_text", "rules_summary", "actor"]
    readonly_fields = fields
    select_related = ("actor",)
    ordering = ["-created_at", "-id"]
    show_change_link = True

    @admin.display(description=_("reason"))
    def reason_text(self, entry):
        return entry_reason(entry)

    @admin.display(description=_("why"))
    def rules_summary(self, entry):
        return rules_summary(entry.rules)


admin.site.unregister(Member)


@admin.register(Member)
class MemberAdmin(members_admin.MemberAdmin):
    actions = [*members_admin.MemberAdmin.actions, "adjust_points"]
    resource_classes = [MemberPointsResource]
    list_select_related = ["points_account__tier"]
    merge_supported = True
    merge_errors = (PointsError, MemberError)
    points_fields = ["points_balance", "points_pending", "points_expiring", "points_tier"]

    # -- Lists --

    def get_list_display(self, request):
        columns = list(super().get_list_display(request))
        at = columns.index("display_name") + 1 if "display_name" in columns else len(columns)
        return [*columns[:at], "tier_column", "num_points", *columns[at:]]

    @admin.display(description=_("points"), ordering="points_account__balance")
    def num_points(self, member):
        account = _account_or_none(member)
        return whole(account.balance if account else 0)

    @admin.display(description=_("tier"), ordering="points_account__tier__rank")
    def tier_column(self, member):
        account = _account_or_none(member)
        return account.tier.name if account and account.tier else "—"

    # -- The change page --

    def get_inlines(self, request, obj):
        inlines = list(super().get_inlines(request, obj))
        return [*inlines[:1], LedgerEntryInline, *inlines[1:]]

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), *self.points_fields]

    def get_extra_fieldsets(self, request, obj=None):
        if obj is None:
            return []
        return [(_("Points"), {"fields": self.points_fields})]

    def _standing(self, member):
        if not hasattr(member, "_admin_standing"):
            member._admin_standing = member_standing(member=member)
        return member._admin_standing

    @admin.display(description=_("balance"))
    def points_balance(self, member):
        return whole(self._standing(member).balance)

    @admin.display(description=_("pending"))
    def points_pending(self, member):
        return whole(self._standing(member).pending)

    @admin.display(description=_("expiring within 30 days"))
    def points_expiring(self, member):
        return whole(points_expiring(member=member, days=30))

    @admin.display(description=_("tier"))
    def points_tier(self, member):
        standing = self._standing(member)
        current = standing.tier.name if standing.tier else gettext("none")
        if standing.next_tier is None:
            return current
        if standing.next_tier.basis == Tier.Basis.POINTS:
            missing = gettext("%(points)s points") % {"points": whole(standing.missing_to_next)}
        else:
            missing = f"{money(standing.missing_to_next)} zł"
        return gettext("%(tier)s (%(missing)s to %(next)s)") % {
            "tier": current,
            "missing": missing,
            "next": standing.next_tier.name,
        }

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        if self.has_adjust_points_permission(request):
            extra_context["adjust_points_url"] = reverse(
                f"{self.admin_site.name}:members_member_adjust_points", args=[object_id]
            )
        return super().change_view(request, object_id, form_url, extra_context)

    # -- Duplicates --

    def merge_members(self, request, *, survivor, duplicate):
        return members_merge(survivor=survivor, duplicate=duplicate, actor=request.user)

    def duplicate_member_details(self, request, members):
        details = super().duplicate_member_details(request, members)
        accounts = dict(PointsAccount.objects.filter(member__in=members).values_list("member_id", "balance").order_by())
        for member in members:
            details.setdefault(member.pk, []).append((gettext("points"), accounts.get(member.pk, 0)))
        return details

    # -- Adjusting points --

    def get_urls(self):
        return [
            path(
                "<path:object_id>/adjust-points/",
                self.admin_site.admin_view(self.adjust_points_view),
                name="members_member_adjust_points",
            ),
            *super().get_urls(),
        ]

    def has_adjust_points_permission(self, request) -> bool:
        return request.user.has_perm(ADJUST_PERMISSION)

    def changelist_view(self, request, extra_context=None):
        # Django ignores an action the user may not run; refuse it plainly instead.
        if (
            request.method == "POST"
            and request.POST.get("action") == "adjust_points"
            and not self.has_adjust_points_permission(request)
        ):
            raise PermissionDenied
        return super().changelist_view(request, extra_context)

    @admin.action(permissions=["adjust_points"], description=_("Adjust points"))
    def adjust_points(self, request, queryset):
        members = list(queryset.order_by("member_number")[: MAX_MEMBERS_PER_ADJUSTMENT + 1])
        if len(members) > MAX_MEMBERS_PER_ADJUSTMENT:
            messages.error(
                request,
                gettext("Select at most %(max)d members for one adjustment.") % {"max": MAX_MEMBERS_PER_ADJUSTMENT},
            )
            return None
        return self._adjust_points_page(request, members, from_changelist=True)

    def adjust_points_view(self, request, object_id):
        if not self.has_adjust_points_permission(request):
            raise PermissionDenied
        member = self.get_object(request, unquote(object_id))
        if member is None:
            raise Http404
        return self._adjust_points_page(request, [member], from_changelist=False)

    def _adjust_points_page(self, request, members, *, from_changelist: bool):
        """The form (points, reason); posted with `apply`, the adjustment of every member or of none."""
        applying = request.method == "POST" and "apply" in request.POST
        form = PointsAdjustForm(request.POST if applying else None)
        if applying:
            if form.is_valid():
                if self._apply_adjustment(request, members, form.cleaned_data):
                    if from_changelist:
                        return None  # back to the changelist
                    url = reverse(f"{self.admin_site.name}:members_member_change", args=[members[0].pk])
                    return HttpResponseRedirect(url)
            else:
                messages.error(request, gettext("No points were adjusted: correct the form below."))
        balances = dict(PointsAccount.objects.filter(member__in=members).values_list("member_id", "balance").order_by())
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Adjust points"),
            "form": form,
            "rows": [{"member": member, "balance": balances.get(member.pk, 0)} for member in members],
            "from_changelist": from_changelist,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "media": self.media + form.media,
        }
        return TemplateResponse(request, "admin/rewards/adjust_points.html", context)

    def _apply_adjustment(self, request, members, data) -> bool:
        """All members or none: one transaction, and every refusal is reported, not only the first."""
        refused = [
            f"{member.member_number}: {member.get_status_display()}"
            for member in members
            if member.status in NOT_ADJUSTABLE
        ]
        if refused:
            messages.error(request, gettext("No points were adjusted. Not adjustable: %s") % "; ".join(refused))
            return False
        with transaction.atomic():
            for member in members:
                try:
                    points_adjust(
                        member=member,
                        points=data["points"],
                        reason=data["reason"],
                        actor=request.user,
                        # The form's token: posting the same form twice adjusts each member once.
                        idempotency_key=f"admin-adjust:{data['token']}:{member.pk}",
                    )
                except PointsError as exc:
                    refused.append(f"{member.member_number}: {exc}")
            if refused:
                transaction.set_rollback(True)
        if refused:
            messages.error(request, gettext("No points were adjusted, because: %s") % "; ".join(refused))
            return False
        messages.success(
            request,
            ngettext(
                "Adjusted the points of %(count)d member by %(points)+d.",
                "Adjusted the points of %(count)d members by %(points)+d each.",
                len(members),
            )
            % {"count": len(members), "points": data["points"]},
        )
        return True


def _account_or_none(member):
    try:
        return member.points_account
    except PointsAccount.DoesNotExist:
        return None
