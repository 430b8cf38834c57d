"""The staff forms of challenges and badges: the admin uses them, and so does the file import, so a row of a
file is checked exactly as the same values typed in the admin are (the form's fields, the model's `clean` and
its constraints)."""

from django import forms
from django.utils.translation import gettext_lazy as _

from . import audiences
from .models import Badge, Challenge

CHALLENGE_FIELDS = [
    "code",
    "name",
    "description",
    "is_active",
    "kind",
    "target",
    "category",
    "store",
    "starts_at",
    "ends_at",
    "points",
    "badge",
    "audience",
    "tier",
    "audience_kind",
    "audience_ref",
]

BADGE_FIELDS = ["code", "name", "description", "image", "milestone", "tier", "is_active"]


class ChallengeForm(forms.ModelForm):
    class Meta:
        model = Challenge
        fields = CHALLENGE_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        kinds = audiences.kinds()
        self.fields["audience_kind"] = forms.ChoiceField(
            label=_("audience kind"),
            required=False,
            choices=[("", "—"), *[(kind.code, kind.label) for kind in kinds]],
        )
        refs = [(f"{ref}", f"{kind.label}: {label}") for kind in kinds for ref, label in kind.choices()]
        self.fields["audience_ref"] = forms.ChoiceField(label=_("audience"), required=False, choices=[("", "—"), *refs])


class BadgeForm(forms.ModelForm):
    class Meta:
        model = Badge
        fields = BADGE_FIELDS
