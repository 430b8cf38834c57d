"""Staff forms for the points economy: point adjustments and earning rules."""

import re
import uuid

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import EarningRule
from .services import MAX_ADJUSTMENT, adjustment_problem


class PointsAdjustForm(forms.Form):
    """A staff correction of points. `token` makes a double-submitted form post each adjustment once."""

    # The cap is checked by `adjustment_problem`, as the import and points_adjust check it; the bounds here
    # only tell the browser.
    points = forms.IntegerField(
        label=_("Points"),
        widget=forms.NumberInput(attrs={"min": -MAX_ADJUSTMENT, "max": MAX_ADJUSTMENT}),
        help_text=_("Positive adds points, negative takes them away."),
    )
    reason = forms.CharField(
        label=_("Reason"),
        max_length=200,
        help_text=_("Required. The member may see it in their history, e.g. 'Complaint 2024/117: goodwill'."),
        widget=forms.TextInput(attrs={"size": 60}),
    )
    token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("token", uuid.uuid4())
        super().__init__(*args, **kwargs)

    def clean_points(self):
        points = self.cleaned_data["points"]
        if problem := adjustment_problem(points):
            raise ValidationError(problem)
        return points

    def clean_reason(self):
        reason = self.cleaned_data["reason"].strip()
        if not reason:
            raise ValidationError(_("Give a reason for the adjustment."))
        return reason


_WEEKDAYS = re.compile(r"^\s*[1-7](\s*,\s*[1-7])*\s*$")


class EarningRuleForm(forms.ModelForm):
    class Meta:
        model = EarningRule
        fields = [
            "name",
            "kind",
            "is_active",
            "multiplier",
            "bonus_points",
            "tier",
            "store",
            "category",
            "sku",
            "min_basket",
            "weekdays",
            "starts_at",
            "ends_at",
            "max_points",
        ]

    def clean_weekdays(self):
        weekdays = self.cleaned_data.get("weekdays", "").strip()
        if weekdays and not _WEEKDAYS.match(weekdays):
            raise ValidationError(_("List ISO weekdays 1-7 separated by commas, e.g. '6,7' for weekends."))
        return ",".join(sorted({day.strip() for day in weekdays.split(",")})) if weekdays else ""

    def clean(self):
        cleaned = super().clean()
        kind = cleaned.get("kind")
        if kind == EarningRule.Kind.MULTIPLIER and cleaned.get("multiplier") == 1:
            self.add_error("multiplier", _("A multiplier of 1 changes nothing."))
        if kind == EarningRule.Kind.BONUS and not cleaned.get("bonus_points"):
            self.add_error("bonus_points", _("A bonus rule needs bonus points."))
        starts, ends = cleaned.get("starts_at"), cleaned.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", _("The end must be after the start."))
        return cleaned
