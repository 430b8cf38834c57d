"""The portal's leaderboard form: a display name and the choice to be shown."""

from django import forms
from django.utils.translation import gettext_lazy as _


class LeaderboardProfileForm(forms.Form):
    display_name = forms.CharField(
        label=_("Display name"),
        max_length=30,
        required=False,
        help_text=_("Shown instead of your name. Do not use your surname or email address."),
    )
    opted_in = forms.BooleanField(label=_("Show me on the leaderboards"), required=False)

    def clean(self):
        data = super().clean()
        if data.get("opted_in") and not (data.get("display_name") or "").strip():
            self.add_error("display_name", _("Choose a name to be shown under."))
        return data
