"""Campaigns admin: segments with a live count, message templates with checks and an SMS counter, campaigns
with their lifecycle actions, progress and results; deliveries, journeys and the SMS outbox."""

from django.contrib import admin, messages
from django.core.mail import send_mail
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from members.models import Member

from .forms import CampaignForm, MessageTemplateForm, SegmentForm, SegmentRuleForm
from .models import Campaign, Delivery, Journey, MessageTemplate, Segment, SegmentRule, SmsOutbox, Variant
from .personal import FIELDS, personal_values
from .rendering import rendered_template
from .results import campaign_results
from .rules import RuleError
from .selectors import campaign_progress, rules_q, segment_members
from .services import (
    CampaignError,
    campaign_cancel,
    campaign_launch,
    campaign_pause,
    campaign_resume,
    segment_upload_members,
    sms_warning,
)
from .sms import sms_length

SAMPLE_SIZE = 10


class SegmentRuleInline(admin.TabularInline):
    model = SegmentRule
    form = SegmentRuleForm
    extra = 1


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    form = SegmentForm
    inlines = [SegmentRuleInline]
    list_display = ["name", "kind", "created_at"]
    search_fields = ["name"]
    change_form_template = "admin/campaigns/segment/change_form.html"

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        upload = form.cleaned_data.get("upload")
        if upload:
            try:
                found = segment_upload_members(segment=form.instance, file=upload)
            except CampaignError as error:
                self.message_user(request, str(error), messages.ERROR)
                return
            text = gettext("%(found)s members listed.") % {"found": found["found"]}
            if found["missing_count"]:
                text += " " + gettext("%(count)s numbers not found, e.g. %(numbers)s.") % {
                    "count": found["missing_count"],
                    "numbers": ", ".join(found["missing"][:5]),
                }
            self.message_user(request, text, messages.WARNING if found["missing_count"] else messages.SUCCESS)

    def get_urls(self):
        return [
            path("preview/", self.admin_site.admin_view(self.preview_view), name="campaigns_segment_preview"),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest) -> HttpResponse:
        """The live count and a sample of members for the rules being edited (htmx, from the unsaved form)."""
        return _segment_preview(request, self)


@require_POST
def _segment_preview(request: HttpRequest, model_admin: SegmentAdmin) -> HttpResponse:
    if not model_admin.has_view_permission(request):
        return HttpResponse(status=403)
    context = {"error": "", "count": None, "sample": []}
    segment_id = request.POST.get("segment_id", "")
    try:
        if request.POST.get("kind") == Segment.Kind.STATIC:
            segment = Segment.objects.filter(pk=segment_id).first() if segment_id.isdigit() else None
            members = segment_members(segment=segment) if segment else Member.objects.none()
        else:
            total = int(request.POST.get("rules-TOTAL_FORMS", "0") or 0)
            rules = []
            for index in range(min(total, 100)):
                prefix = f"rules-{index}-"
                if request.POST.get(prefix + "DELETE") or not request.POST.get(prefix + "kind"):
                    continue
                group = request.POST.get(prefix + "group", "1")
                rules.append(
                    (
                        int(group) if group.isdigit() else 1,
                        request.POST[prefix + "kind"],
                        request.POST.get(prefix + "operator", ""),
                        request.POST.get(prefix + "value", ""),
                    )
                )
            members = (
                Member.objects.filter(status=Member.Status.ACTIVE).filter(rules_q(rules))
                if rules
                else Member.objects.none()
            )
        context["count"] = members.count()
        context["sample"] = list(members.order_by("?")[:SAMPLE_SIZE]) if context["count"] else []
    except RuleError as error:
        context["error"] = str(error)
    return HttpResponse(render_to_string("admin/campaigns/segment/_preview.html", context, request=request))


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = MessageTemplateForm
    list_display = ["name", "channel", "purpose", "sms_parts"]
    list_filter = ["channel", "purpose"]
    search_fields = ["name", "subject"]
    actions = ["send_test"]
    readonly_fields = ["offered_fields", "preview_links"]
    fieldsets = [
        (None, {"fields": ["name", "channel", "purpose", "subject", "html", "text"]}),
        (_("Personal fields"), {"fields": ["offered_fields", "preview_links"]}),
    ]

    class Media:
        js = ["campaigns/sms_counter.js"]
        css = {"all": ["campaigns/admin_campaigns.css"]}

    @admin.display(description=_("SMS parts"))
    def sms_parts(self, obj: MessageTemplate) -> str:
        if obj.channel != "sms":
            return "—"
        length = sms_length(obj.text)
        return f"{length.parts} ({length.encoding})"

    @admin.display(description=_("Fields you can use"))
    def offered_fields(self, obj) -> str:
        items = format_html_join(
            "", "<li><code>{}</code> {}</li>", (("{{ " + name + "|… }}", label) for name, label in FIELDS.items())
        )
        return format_html("<ul class='campaign-fields'>{}</ul>", items)

    @admin.display(description=_("Preview"))
    def preview_links(self, obj: MessageTemplate) -> str:
        if not obj.pk:
            return gettext("Save the template first.")
        url = reverse("admin:campaigns_messagetemplate_preview", args=[obj.pk])
        return format_html('<a href="{}" target="_blank" rel="noopener">{}</a>', url, gettext("Preview as a member"))

    def get_urls(self):
        return [
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="campaigns_messagetemplate_preview",
            ),
            path(
                "<int:pk>/preview/email/",
                self.admin_site.admin_view(self.preview_email_view),
                name="campaigns_messagetemplate_preview_email",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return _template_preview(request, self, pk)

    def preview_email_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        return _template_preview_email(request, self, pk)

    @admin.action(description=_("Send a test to my email address"))
    def send_test(self, request, queryset):
        if not request.user.email:
            self.message_user(request, gettext("Your staff account has no email address."), messages.ERROR)
            return
        member = Member.objects.filter(status=Member.Status.ACTIVE).order_by("pk").first()
        for template in queryset.filter(channel="email"):
            subject, text, html = _render_for(template, member)
            send_mail("[TEST] " + subject, text, None, [request.user.email], html_message=html, fail_silently=False)
        self.message_user(request, gettext("Test sent to %(email)s.") % {"email": request.user.email})


def _render_for(template: MessageTemplate, member: Member | None) -> tuple[str, str, str]:
    rendered = rendered_template(template)
    values = personal_values([member], set(FIELDS)).get(member.pk, {}) if member else {}
    values["unsubscribe_url"] = "#"
    return (
        rendered.subject.render(values, escape=False),
        rendered.text.render(values, escape=False),
        rendered.html.render(values, escape=True) if template.channel == "email" else "",
    )


def _preview_member(request: HttpRequest) -> Member | None:
    number = request.GET.get("member", "").strip()
    if number:
        return Member.objects.filter(member_number=number).first()
    return Member.objects.filter(status=Member.Status.ACTIVE).order_by("pk").first()


@require_GET
def _template_preview(request: HttpRequest, model_admin: MessageTemplateAdmin, pk: int) -> HttpResponse:
    """An admin page: choose a member; an SMS is shown with its length, an email in a sandboxed frame."""
    if not model_admin.has_view_permission(request):
        return HttpResponse(status=403)
    template = get_object_or_404(MessageTemplate, pk=pk)
    member = _preview_member(request)
    subject, text, _html = _render_for(template, member)
    context = {
        **model_admin.admin_site.each_context(request),
        "template": template,
        "member": member,
        "number": request.GET.get("member", ""),
        "subject": subject,
        "text": text,
        "length": sms_length(text) if template.channel == "sms" else None,
        "warning": sms_warning(text) if template.channel == "sms" else "",
        "frame_url": reverse("admin:campaigns_messagetemplate_preview_email", args=[pk])
        + (f"?member={member.member_number}" if member else ""),
        "title": f"{gettext('Preview')}: {template.name}",
    }
    return HttpResponse(render_to_string("admin/campaigns/messagetemplate/preview.html", context, request=request))


@require_GET
def _template_preview_email(request: HttpRequest, model_admin: MessageTemplateAdmin, pk: int) -> HttpResponse:
    """The email itself, inline styles and all, for the preview page's frame."""
    if not model_admin.has_view_permission(request):
        return HttpResponse(status=403)
    template = get_object_or_404(MessageTemplate, pk=pk, channel="email")
    _subject, _text, html = _render_for(template, _preview_member(request))
    response = HttpResponse(html)
    # Nothing may load or run in it; its inline styles are the email's own (mail clients need them inline).
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src * data:"
    response["X-Frame-Options"] = "SAMEORIGIN"
    return response


class VariantInline(admin.TabularInline):
    model = Variant
    extra = 1
    autocomplete_fields = ["template"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    inlines = [VariantInline]
    list_display = ["name", "channel", "segment", "status", "scheduled_at", "launched_at", "progress_bar"]
    list_filter = ["status", "channel"]
    search_fields = ["name"]
    actions = ["launch", "pause", "resume", "cancel"]
    readonly_fields = ["status", "launched_at", "finished_at", "progress_panel", "results_panel"]
    autocomplete_fields = ["segment"]
    fieldsets = [
        (None, {"fields": ["name", "channel", "segment", "status"]}),
        (_("When"), {"fields": ["scheduled_at", "quiet_start", "quiet_end", "launched_at", "finished_at"]}),
        (_("Audience"), {"fields": ["control_percent", "cap_messages", "cap_days", "attribution_days"]}),
        (_("Progress and results"), {"fields": ["progress_panel", "results_panel"]}),
    ]

    class Media:
        css = {"all": ["campaigns/admin_campaigns.css"]}

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def _lifecycle(self, request, queryset, service, done: str):
        count = 0
        for campaign in queryset:
            try:
                service(campaign=campaign)
                count += 1
            except CampaignError as error:
                self.message_user(request, f"{campaign}: {error}", messages.ERROR)
        if count:
            self.message_user(request, done % {"count": count}, messages.SUCCESS)

    def has_launch_permission(self, request) -> bool:
        return request.user.has_perm("campaigns.launch_campaign")

    @admin.action(permissions=["launch"], description=_("Launch (now or at the scheduled time)"))
    def launch(self, request, queryset):
        self._lifecycle(request, queryset, campaign_launch, gettext("%(count)s campaigns launched or scheduled."))

    @admin.action(permissions=["launch"], description=_("Pause sending"))
    def pause(self, request, queryset):
        self._lifecycle(request, queryset, campaign_pause, gettext("%(count)s campaigns paused."))

    @admin.action(permissions=["launch"], description=_("Resume sending"))
    def resume(self, request, queryset):
        self._lifecycle(request, queryset, campaign_resume, gettext("%(count)s campaigns resumed."))

    @admin.action(permissions=["launch"], description=_("Cancel"))
    def cancel(self, request, queryset):
        self._lifecycle(request, queryset, campaign_cancel, gettext("%(count)s campaigns cancelled."))

    @admin.display(description=_("progress"))
    def progress_bar(self, obj: Campaign) -> str:
        if obj.status in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED):
            return "—"
        progress = campaign_progress(campaign=obj)
        return format_html('<progress max="100" value="{}"></progress> {}%', progress["percent"], progress["percent"])

    @admin.display(description=_("progress"))
    def progress_panel(self, obj: Campaign) -> str:
        if not obj.pk:
            return "—"
        return render_to_string(
            "admin/campaigns/campaign/_progress.html", {"campaign": obj, "progress": campaign_progress(campaign=obj)}
        )

    @admin.display(description=_("results"))
    def results_panel(self, obj: Campaign) -> str:
        if not obj.pk or obj.launched_at is None:
            return "—"
        return render_to_string(
            "admin/campaigns/campaign/_results.html", {"campaign": obj, **campaign_results(campaign=obj)}
        )

    def get_urls(self):
        return [
            path(
                "<int:pk>/progress/",
                self.admin_site.admin_view(self.progress_view),
                name="campaigns_campaign_progress",
            ),
            *super().get_urls(),
        ]

    def progress_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        campaign = get_object_or_404(Campaign, pk=pk)
        return HttpResponse(
            render_to_string(
                "admin/campaigns/campaign/_progress.html",
                {"campaign": campaign, "progress": campaign_progress(campaign=campaign)},
                request=request,
            )
        )


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["id", "campaign", "journey", "member", "channel", "status", "attempts", "sent_at", "error"]
    list_filter = ["status", "channel", "journey"]
    list_select_related = ["campaign", "journey", "member"]
    search_fields = ["member__member_number", "provider_id"]
    raw_id_fields = ["member"]
    show_full_result_count = False


@admin.register(SmsOutbox)
class SmsOutboxAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "phone", "text", "parts"]
    search_fields = ["phone", "text"]

    @admin.display(description=_("parts"))
    def parts(self, obj: SmsOutbox) -> str:
        length = sms_length(obj.text)
        return f"{length.parts} ({length.encoding})"


@admin.register(Journey)
class JourneyAdmin(admin.ModelAdmin):
    list_display = ["code", "enabled", "template", "days"]
    list_editable = ["enabled", "template", "days"]
    fields = ["code", "enabled", "template", "days"]
    readonly_fields = ["code"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
