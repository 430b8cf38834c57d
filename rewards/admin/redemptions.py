"""Staff admin of redemptions: categories, redemptions, vouchers, the till (look a code up, mark it used), the
look-up log, redeeming for a member from the member's page, and each partner's monthly settlement.

Every change goes through rewards.redemption; the admin only asks and shows.
"""

import io
import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty_site.admin_format import money, whole
from loyalty_site.files.admin_exports import SafeExportAdminMixin
from loyalty_site.files.exports import SafeExportResource, related, write_csv, write_xlsx
from members import admin_panels
from members.admin import ViewOnlyAdminMixin
from members.models import Member

from ..catalog import available_q
from ..models import Category, Partner, Redemption, Reward, Voucher, VoucherLookup
from ..partners import SETTLEMENT_HEADERS, partner_settlement, partner_settlement_rows
from ..redemption import RedemptionRefused, reward_redeem, voucher_cancel, voucher_lookup, voucher_use

USE_PERMISSION = "rewards.use_voucher"
CANCEL_PERMISSION = "rewards.cancel_voucher"
REDEEM_PERMISSION = "rewards.redeem_for_member"
PERSONAL_PERMISSION = "members.view_member_personal_data"


class CategoryResource(SafeExportResource):
    class Meta:
        model = Category
        fields = ("code", "name", "position")
        export_order = fields
        import_id_fields = ("code",)


@admin.register(Category)
class CategoryAdmin(SafeExportAdminMixin, admin.ModelAdmin):
    resource_classes = [CategoryResource]
    list_display = ["name", "code", "position"]
    list_editable = ["position"]
    search_fields = ["name", "code"]
    prepopulated_fields = {"code": ["name"]}


class RedemptionResource(SafeExportResource):
    member_number = related("member__member_number", "member_number")
    reward_code = related("reward__code", "reward")
    partner_code = related("partner__code", "partner")
    voucher_status = related("voucher__status", "voucher_status")
    select_related = ("member", "reward", "partner", "voucher")

    class Meta:
        model = Redemption
        fields = ("id", "created_at", "member_number", "reward_code", "partner_code", "points", "cash_value",
                  "settlement_value", "voucher_status", "restore_entry")  # fmt: skip
        export_order = fields


@admin.register(Redemption)
class RedemptionAdmin(ViewOnlyAdminMixin, SafeExportAdminMixin, admin.ModelAdmin):
    resource_classes = [RedemptionResource]
    list_display = ["created_at", "member", "reward", "partner", "num_points", "num_settlement", "voucher_status"]
    list_filter = [("created_at", admin.DateFieldListFilter), "partner", "reward"]
    list_select_related = ["member", "reward", "partner", "voucher"]
    search_fields = ["member__member_number", "reward__code", "reward__name", "voucher__code"]
    date_hierarchy = "created_at"
    raw_id_fields = ["member", "debit_entry", "restore_entry", "actor"]

    @admin.display(description=_("points"), ordering="points")
    def num_points(self, redemption):
        return whole(redemption.points)

    @admin.display(description=_("settlement value (PLN)"), ordering="settlement_value")
    def num_settlement(self, redemption):
        return money(redemption.settlement_value)

    @admin.display(description=_("voucher"))
    def voucher_status(self, redemption):
        return redemption.voucher.get_status_display()

    def get_urls(self):
        return [
            path(
                "redeem-for/<int:member_id>/",
                self.admin_site.admin_view(self.redeem_for_member_view),
                name="rewards_redemption_redeem_for",
            ),
            *super().get_urls(),
        ]

    def redeem_for_member_view(self, request, member_id):
        """Support staff redeem a reward for a member at the counter, through the same service as the portal."""
        if not request.user.has_perm(REDEEM_PERMISSION):
            raise PermissionDenied
        member = get_object_or_404(Member, pk=member_id)
        form = RedeemForMemberForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                redemption = reward_redeem(
                    member=member,
                    reward=form.cleaned_data["reward"],
                    actor=request.user,
                    idempotency_key=f"admin:{form.cleaned_data['token']}",
                )
            except RedemptionRefused as refused:
                form.add_error("reward", str(refused))
            else:
                messages.success(
                    request,
                    gettext("Redeemed %(reward)s: voucher %(code)s, valid until %(until)s.")
                    % {
                        "reward": redemption.reward.name,
                        "code": redemption.voucher.code,
                        "until": timezone.localtime(redemption.voucher.expires_at).strftime("%d.%m.%Y"),
                    },
                )
                return HttpResponseRedirect(reverse("admin:members_member_change", args=[member.pk]))
        balance = getattr(getattr(member, "points_account", None), "balance", 0)
        context = {
            **self.admin_site.each_context(request),
            "opts": Member._meta,
            "title": gettext("Redeem a reward"),
            "member": member,
            "balance": balance,
            "form": form,
        }
        return TemplateResponse(request, "admin/rewards/redeem_for_member.html", context)


class RedeemForMemberForm(forms.Form):
    reward = forms.ModelChoiceField(
        label=_("Reward"), queryset=Reward.objects.none(), help_text=_("Rewards on offer now, cheapest first.")
    )
    # One per form shown: a double click redeems once.
    token = forms.CharField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["reward"].queryset = Reward.objects.filter(available_q(timezone.now())).order_by(
            "points_cost", "name"
        )
        self.fields["reward"].label_from_instance = lambda reward: f"{reward.name} ({reward.points_cost} pkt)"
        if not self.is_bound:
            self.initial["token"] = uuid.uuid4().hex


def _redeem_tool_url(request, member):
    if not request.user.has_perm(REDEEM_PERMISSION) or member.status != Member.Status.ACTIVE:
        return None
    return reverse("admin:rewards_redemption_redeem_for", args=[member.pk])


admin_panels.tool("redeem", _("Redeem a reward"), _redeem_tool_url, order=20)


class VoucherResource(SafeExportResource):
    member_number = related("member__member_number", "member_number")
    reward_code = related("reward__code", "reward")
    select_related = ("member", "reward")

    class Meta:
        model = Voucher
        fields = ("code", "member_number", "reward_code", "status", "issued_at", "expires_at", "used_at", "closed_at")
        export_order = fields


@admin.register(Voucher)
class VoucherAdmin(ViewOnlyAdminMixin, SafeExportAdminMixin, admin.ModelAdmin):
    resource_classes = [VoucherResource]
    change_list_template = "admin/rewards/voucher/change_list.html"  # the till link; exports wrap it
    list_display = ["code", "member", "reward", "status", "issued_at", "expires_at", "used_at"]
    list_filter = ["status", ("expires_at", admin.DateFieldListFilter), "reward"]
    list_select_related = ["member", "reward"]
    search_fields = ["=code", "member__member_number"]
    raw_id_fields = ["redemption", "member", "reward", "used_by", "closed_by"]
    actions = ["cancel_vouchers"]

    @admin.action(permissions=["cancel_voucher"], description=_("Cancel: give the points and the stock back"))
    def cancel_vouchers(self, request, queryset):
        done, refused = 0, []
        for voucher in queryset.order_by("pk")[:200]:
            try:
                voucher_cancel(voucher=voucher, actor=request.user)
                done += 1
            except RedemptionRefused as exc:
                refused.append(f"{voucher.code}: {exc}")
        if done:
            messages.success(request, gettext("Cancelled %(count)d vouchers; their points are back.") % {"count": done})
        if refused:
            messages.warning(request, gettext("Not cancelled: %s") % "; ".join(refused))

    def has_cancel_voucher_permission(self, request):
        return request.user.has_perm(CANCEL_PERMISSION)

    def get_urls(self):
        return [
            path("till/", self.admin_site.admin_view(self.till_view), name="rewards_voucher_till"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = extra_context or {}
        extra_context["till_url"] = (
            reverse("admin:rewards_voucher_till") if request.user.has_perm(USE_PERMISSION) else None
        )
        return super().changelist_view(request, extra_context)

    def till_view(self, request):
        """Look a code up (every look-up logged, a few a minute per staff member), see whether it is valid and for
        whom, and mark it used once."""
        return _till(self, request)


def _till(model_admin, request):
    if request.method not in ("GET", "POST"):
        return HttpResponseNotAllowed(["GET", "POST"])
    if not request.user.has_perm(USE_PERMISSION):
        raise PermissionDenied
    voucher = None
    limited = False
    code = ""
    if request.method == "POST" and "use" in request.POST:
        voucher = get_object_or_404(Voucher.objects.select_related("member", "reward"), pk=request.POST.get("voucher"))
        try:
            voucher_use(voucher=voucher, actor=request.user)
        except RedemptionRefused as refused:
            messages.error(request, str(refused))
        else:
            messages.success(request, gettext("Voucher %(code)s marked used.") % {"code": voucher.code})
        return HttpResponseRedirect(reverse("admin:rewards_voucher_till") + f"?shown={voucher.pk}")
    if request.method == "POST" and not request.POST.get("code", "").strip():
        messages.warning(request, gettext("Type the code from the member's voucher."))
    elif request.method == "POST":
        code = request.POST.get("code", "")
        result = voucher_lookup(code=code, actor=request.user)
        voucher, limited = result.voucher, result.limited
        if limited:
            messages.error(request, gettext("Too many look-ups in a minute: wait a moment and try again."))
        elif voucher is None:
            messages.warning(request, gettext("No voucher has the code %(code)s.") % {"code": code.strip()[:40]})
    elif request.GET.get("shown"):
        # Back from "mark used": show the voucher again without counting a look-up (it was looked up already).
        shown = request.GET["shown"]
        if shown.isdigit() and VoucherLookup.objects.filter(actor=request.user, voucher_id=int(shown)).exists():
            voucher = Voucher.objects.select_related("member", "reward").filter(pk=int(shown)).first()
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Voucher._meta,
        "title": gettext("Vouchers at the till"),
        "voucher": voucher,
        "code": code,
        "limited": limited,
        "now": timezone.now(),
        "show_names": request.user.has_perm(PERSONAL_PERMISSION),
    }
    return TemplateResponse(request, "admin/rewards/voucher/till.html", context)


@admin.register(VoucherLookup)
class VoucherLookupAdmin(ViewOnlyAdminMixin, SafeExportAdminMixin, admin.ModelAdmin):
    list_display = ["looked_up_at", "actor", "code_entered", "outcome", "voucher"]
    list_filter = ["outcome", ("looked_up_at", admin.DateFieldListFilter), "actor"]
    list_select_related = ["actor", "voucher"]
    search_fields = ["code_entered", "actor__username"]


# --- The partners' monthly settlement ----------------------------------------------------------------------


def partner_settlement_view(model_admin, request, object_id):
    """One partner's month: totals and every redemption counted; `?format=csv|xlsx` downloads the rows."""
    if not request.user.has_perm("rewards.view_redemption"):
        raise PermissionDenied
    partner = model_admin.get_object(request, object_id)
    if partner is None:
        raise Http404
    now = timezone.localtime()
    year, month = now.year, now.month
    wanted = request.GET.get("month", "")
    try:
        if wanted:
            year, month = (int(part) for part in wanted.split("-", 1))
            if not 1 <= month <= 12 or not 2000 <= year <= 2100:
                raise ValueError
    except ValueError:
        messages.error(request, gettext("Choose a month as YYYY-MM, e.g. 2026-03."))
        year, month = now.year, now.month
    file_format = request.GET.get("format")
    if file_format in ("csv", "xlsx"):
        rows = partner_settlement_rows(partner=partner, year=year, month=month)
        name = f"settlement-{partner.code}-{year}-{month:02d}.{file_format}"
        if file_format == "csv":
            text = io.StringIO(newline="")
            write_csv(text, headers=SETTLEMENT_HEADERS, rows=rows)
            response = HttpResponse(text.getvalue(), content_type="text/csv; charset=utf-8")
        else:
            data = io.BytesIO()
            write_xlsx(data, title=f"{partner.code} {year}-{month:02d}", headers=SETTLEMENT_HEADERS, rows=rows)
            response = HttpResponse(
                data.getvalue(), content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            )
        response["Content-Disposition"] = f'attachment; filename="{name}"'
        return response
    settlement = partner_settlement(partner=partner, year=year, month=month)
    by_reward = (
        Redemption.objects.filter(pk__in=_month_ids(partner, year, month), restore_entry__isnull=True)
        .values("reward__code", "reward__name", "settlement_value")
        .order_by("reward__name", "settlement_value")
    )
    lines: dict = {}
    for row in by_reward:
        key = (row["reward__code"], row["reward__name"], row["settlement_value"])
        lines[key] = lines.get(key, 0) + 1
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": Partner._meta,
        "original": partner,
        "title": gettext("Settlement of %(partner)s") % {"partner": partner.name},
        "settlement": settlement,
        "month_value": f"{year}-{month:02d}",
        "lines": [
            {"code": code, "name": name, "value": value, "count": count, "total": (value or 0) * count}
            for (code, name, value), count in lines.items()
        ],
    }
    return TemplateResponse(request, "admin/rewards/partner/settlement.html", context)


def _month_ids(partner, year, month):
    from ..partners import partner_month_redemptions

    return partner_month_redemptions(partner=partner, year=year, month=month).values("pk")
