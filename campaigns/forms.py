"""Admin forms of campaigns: rules from the registry, template checks, the static list upload."""

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Campaign, MessageTemplate, Segment, SegmentRule
from .rules import OPERATOR_LABELS, RuleError, kinds, rule_q
from .services import message_template_problems


def _kind_choices():
    return [("", "---------"), *((kind.code, kind.label) for kind in kinds())]


class SegmentRuleForm(forms.ModelForm):
    kind = forms.ChoiceField(label=_("rule"), choices=_kind_choices)
    operator = forms.ChoiceField(label=_("operator"), choices=[("", "---------"), *OPERATOR_LABELS.items()])

    class Meta:
        model = SegmentRule
        fields = ["group", "kind", "operator", "value"]

    def clean(self):
        data = super().clean()
        if data.get("kind") and data.get("operator") and not self.cleaned_data.get("DELETE"):
            try:
                rule_q(data["kind"], data["operator"], data.get("value", ""))
            except RuleError as error:
                raise forms.ValidationError(str(error)) from None
        return data


class SegmentForm(forms.ModelForm):
    upload = forms.FileField(
        label=_("Member numbers (file)"),
        required=False,
        help_text=_("A CSV or text file with one member number a line: makes this a static segment of those members."),
    )

    class Meta:
        model = Segment
        fields = ["name", "kind", "description"]


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = ["name", "channel", "purpose", "subject", "html", "text"]
        widgets = {
            "text": forms.Textarea(attrs={"rows": 6, "data-sms-counter": "1"}),
            "html": forms.Textarea(attrs={"rows": 14}),
        }

    def clean(self):
        data = super().clean()
        problems = message_template_problems(
            channel=data.get("channel", ""),
            subject=data.get("subject", ""),
            html=data.get("html", ""),
            text=data.get("text", ""),
        )
        for field, messages in problems.items():
            for message in messages:
                self.add_error(field, message)
        return data


class CampaignForm(forms.ModelForm):
    class Meta:
        model = Campaign
        fields = [
            "name",
            "channel",
            "segment",
            "scheduled_at",
            "control_percent",
            "quiet_start",
            "quiet_end",
            "cap_messages",
            "cap_days",
            "attribution_days",
        ]

    def clean(self):
        data = super().clean()
        if bool(data.get("cap_messages")) != bool(data.get("cap_days")):
            self.add_error("cap_days", _("Give both the number of messages and the days of the frequency cap."))
        if bool(data.get("quiet_start")) != bool(data.get("quiet_end")):
            self.add_error("quiet_end", _("Give both ends of the quiet hours."))
        if self.instance.pk and self.instance.status not in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED):
            raise forms.ValidationError(_("A campaign that has started cannot be changed."))
        return data
