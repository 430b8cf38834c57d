"""The admin page where staff award a partner's co-branded points: a list of members from a file (or one
member), checked and shown first, then posted on confirmation through `partners.partner_points_award`.

`PartnerAwardsAdminMixin` goes before the bases of the partners' ModelAdmin: it adds the page's URL
(`<partner id>/award-points/`, name `rewards_partner_award_points`) and an "Award points" button on the
partner's page. Staff need both `rewards.adjust_points` and `rewards.change_partner` (the programme manager's
role has them; support, marketing and analysts do not).

What the confirmation posts is the checked list itself, signed (who, which partner, which promotion, the
members and their points), so the file is not kept anywhere and cannot be swapped between the two steps.
"""

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core import signing
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty_site.files.tabular import FileFormatError
from members.models import LoyaltyCard

from ..partner_awards import (
    MAX_ROWS,
    AwardPlan,
    AwardRefused,
    award_rows_read,
    partner_award_plan,
    partner_awards_post,
)
from ..services.points import MAX_ADJUSTMENT

PERMISSIONS = ("rewards.adjust_points", "rewards.change_partner")
SALT = "rewards.partner-awards"
# How long a checked list may wait for its confirmation.
CONFIRM_WITHIN_SECONDS = 3600
MAX_UPLOAD_BYTES = 2 * 1024 * 1024
SHOWN_LINES = 200


class PartnerAwardForm(forms.Form):
    promotion = forms.SlugField(
        label=_("Promotion code"),
        max_length=40,
        help_text=_(
            "A short code of this promotion, e.g. kino-luty-2026. Each member gets its points once per promotion: "
            "uploading the file again, or a corrected one, awards nobody twice."
        ),
        widget=forms.TextInput(attrs={"class": "vTextField"}),
    )
    reason = forms.CharField(
        label=_("Text in the member's history"),
        max_length=120,
        help_text=_("Shown after the partner's name, e.g. 'Tickets bought in February'."),
        widget=forms.TextInput(attrs={"class": "vTextField"}),
    )
    file = forms.FileField(
        label=_("File of members (CSV or XLSX)"),
        required=False,
        help_text=_("Columns: card_number, member_number or email (one is enough), and points. At most %(max)d rows.")
        % {"max": MAX_ROWS},
    )
    member = forms.CharField(
        label=_("Or one member"),
        required=False,
        max_length=254,
        help_text=_("Card number, member number or email."),
        widget=forms.TextInput(attrs={"class": "vTextField"}),
    )
    points = forms.IntegerField(
        label=_("Points for that member"), required=False, min_value=1, max_value=MAX_ADJUSTMENT
    )

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Say what the points are for."))
        return reason

    def clean(self):
        data = super().clean()
        upload, member = data.get("file"), (data.get("member") or "").strip()
        if upload and member:
            raise forms.ValidationError(_("Give a file or one member, not both."))
        if not upload and not member:
            raise forms.ValidationError(_("Give a file of members or one member."))
        if upload and upload.size > MAX_UPLOAD_BYTES:
            self.add_error("file", _("The file is larger than 2 MB: split it into smaller files."))
        if member and not data.get("points") and "points" not in self.errors:
            self.add_error("points", _("How many points should the member get?"))
        return data

    def rows(self) -> list[tuple[int, dict[str, str]]]:
        """The rows to check: the file's, or one row for the member typed in."""
        data = self.cleaned_data
        if data.get("file"):
            upload = data["file"]
            return award_rows_read(stream=upload.file, filename=upload.name)
        identifier = data["member"].strip()
        if "@" in identifier:
            column = "email"
        elif LoyaltyCard.objects.filter(number=identifier).exists():
            column = "card_number"
        else:
            column = "member_number"
        return [(1, {column: identifier, "points": str(data["points"])})]


class PartnerAwardsAdminMixin:
    """Award a partner's co-branded points from the partner's admin page (see the module's docstring)."""

    change_form_template = "admin/rewards/partner/change_form_awards.html"

    def get_urls(self):
        return [
            path(
                "<path:object_id>/award-points/",
                self.admin_site.admin_view(self.partner_award_view),
                name="rewards_partner_award_points",
            ),
            *super().get_urls(),
        ]

    def has_partner_award_permission(self, request) -> bool:
        return request.user.has_perms(PERMISSIONS)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = extra_context or {}
        if object_id and self.has_partner_award_permission(request):
            extra_context["partner_award_url"] = reverse(
                f"{self.admin_site.name}:rewards_partner_award_points", args=[object_id]
            )
        return super().change_view(request, object_id, form_url, extra_context)

    def partner_award_view(self, request, object_id):
        if request.method not in ("GET", "HEAD", "POST"):
            return HttpResponseNotAllowed(["GET", "POST"])
        if not self.has_partner_award_permission(request):
            raise PermissionDenied
        partner = self.get_object(request, unquote(object_id))
        if partner is None:
            raise Http404
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": partner,
            "partner": partner,
            "title": gettext("Award points: %(partner)s") % {"partner": partner.name},
            "ledger_url": reverse(f"{self.admin_site.name}:rewards_ledgerentry_changelist")
            + f"?q=partner:{partner.code}",
            "max_rows": MAX_ROWS,
            "award_url": request.path,
        }
        if request.method == "POST" and "confirm" in request.POST:
            return self._confirm(request, partner, context)
        form = PartnerAwardForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            return self._preview(request, partner, form, context)
        return TemplateResponse(
            request, "admin/rewards/partner/award_points.html", {**context, "form": form, "media": form.media}
        )

    def _preview(self, request, partner, form: PartnerAwardForm, context: dict):
        promotion, reason = form.cleaned_data["promotion"], form.cleaned_data["reason"]
        try:
            rows = form.rows()
        except FileFormatError as exc:
            form.add_error("file", str(exc))
            return TemplateResponse(request, "admin/rewards/partner/award_points.html", {**context, "form": form})
        plan: AwardPlan = partner_award_plan(partner=partner, promotion=promotion, rows=rows)
        payload = {
            "partner": partner.pk,
            "user": request.user.pk,
            "promotion": promotion,
            "reason": reason,
            "awards": plan.to_payload(),
        }
        context.update(
            {
                "stage": "preview",
                "plan": plan,
                "promotion": promotion,
                "reason": reason,
                "shown": (plan.invalid or plan.lines)[:SHOWN_LINES],
                "hidden_count": max(0, len(plan.invalid or plan.lines) - SHOWN_LINES),
                "signed": signing.dumps(payload, salt=SALT, compress=True),
                "can_confirm": partner.is_active and not plan.invalid and bool(plan.new),
            }
        )
        return TemplateResponse(request, "admin/rewards/partner/award_points.html", context)

    def _confirm(self, request, partner, context: dict):
        try:
            payload = signing.loads(request.POST.get("plan", ""), salt=SALT, max_age=CONFIRM_WITHIN_SECONDS)
        except signing.SignatureExpired:
            payload = None
            messages.error(request, gettext("The checked list is more than an hour old: upload it again."))
        except signing.BadSignature:
            payload = None
            messages.error(request, gettext("The checked list was not recognised: upload it again."))
        if payload is not None and (payload.get("partner") != partner.pk or payload.get("user") != request.user.pk):
            payload = None
            messages.error(request, gettext("The checked list was not recognised: upload it again."))
        if payload is None:
            form = PartnerAwardForm()
            return TemplateResponse(request, "admin/rewards/partner/award_points.html", {**context, "form": form})
        try:
            result = partner_awards_post(
                partner=partner,
                promotion=payload["promotion"],
                reason=payload["reason"],
                awards=payload["awards"],
                actor=request.user,
            )
        except AwardRefused as exc:
            context.update({"stage": "refused", "refusals": exc.args[0], "form": PartnerAwardForm()})
            return TemplateResponse(request, "admin/rewards/partner/award_points.html", context)
        context.update({"stage": "done", "result": result, "promotion": payload["promotion"]})
        return TemplateResponse(request, "admin/rewards/partner/award_points.html", context)


__all__ = ["PartnerAwardForm", "PartnerAwardsAdminMixin"]
