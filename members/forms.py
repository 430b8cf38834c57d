"""Staff forms for members: the admin's member form, the consent event form and the merge confirmation."""

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from .models import ConsentEvent, ConsentText, LoyaltyCard, Member
from .phones import normalise_phone

# Statuses staff may set by hand; "merged" and "erased" are the results of the merge and erasure services.
STAFF_SETTABLE_STATUSES = (Member.Status.ACTIVE, Member.Status.SUSPENDED)


def mask_email(value: str) -> str:
    """j***@example.pl: enough for staff to tell two addresses apart, not enough to write to one."""
    if not value:
        return ""
    local, _at, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(value: str) -> str:
    if not value:
        return ""
    return f"{value[:3]}*****{value[-3:]}" if len(value) > 6 else "***"


def mask_date(value) -> str:
    return "****-**-**" if value else ""


class PhoneField(forms.CharField):
    """Accepts the ways people write Polish numbers and stores them in E.164."""

    def to_python(self, value):
        value = super().to_python(value)
        if value in self.empty_values:
            return value
        try:
            return normalise_phone(value)
        except ValueError:
            raise ValidationError(
                _("Enter the phone number in international format, e.g. +48601234567."), code="invalid_phone"
            ) from None


class MemberAdminForm(forms.ModelForm):
    class Meta:
        model = Member
        # What staff may edit: the audited profile fields (members.services.AUDITED_FIELDS).
        fields = [
            "first_name",
            "last_name",
            "status",
            "email",
            "phone",
            "preferred_channel",
            "preferred_language",
            "birth_date",
            "gender",
            "city",
            "postal_code",
            "join_source",
            "referred_by",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Swapped in here, not declared: a declared field would be in the form even where the admin leaves
        # the phone out (staff without the personal-data permission), and would blank it on save.
        if "phone" in self.fields:
            model_field = self.fields["phone"]
            self.fields["phone"] = PhoneField(
                label=model_field.label, help_text=model_field.help_text, max_length=20, required=False
            )
        status = self.fields.get("status")
        if status is not None:
            current = self.instance.status if self.instance.pk else None
            allowed = set(STAFF_SETTABLE_STATUSES) | ({current} if current else set())
            status.choices = [(value, label) for value, label in Member.Status.choices if value in allowed]
        referred_by = self.fields.get("referred_by")
        if referred_by is not None and self.instance.pk:
            referred_by.queryset = referred_by.queryset.exclude(pk=self.instance.pk)

    def clean_email(self):
        return (self.cleaned_data.get("email") or "").strip().lower()

    def clean_status(self):
        status = self.cleaned_data.get("status")
        current = self.instance.status if self.instance.pk else None
        if status != current and status not in STAFF_SETTABLE_STATUSES:
            raise ValidationError(_("Merged and erased members are set by the merge and erasure tools, not by hand."))
        if current in (Member.Status.MERGED, Member.Status.ERASED) and status != current:
            raise ValidationError(_("A merged or erased member cannot be reactivated."))
        return status


class ConsentEventAdminForm(forms.ModelForm):
    """A consent change staff record, e.g. from a signed paper form. The service appends the event."""

    class Meta:
        model = ConsentEvent
        fields = ["member", "channel", "purpose", "granted", "text"]
        help_texts = {
            "granted": _("Ticked: the member gives consent. Unticked: the member withdraws it."),
            "text": _("The wording the member agreed to. Empty: the newest text for this channel and purpose."),
        }

    def clean(self):
        cleaned = super().clean()
        text: ConsentText | None = cleaned.get("text")
        if text is not None and (text.channel, text.purpose) != (cleaned.get("channel"), cleaned.get("purpose")):
            raise ValidationError(_("The consent text is for another channel or purpose."))
        return cleaned


class MemberMergeForm(forms.Form):
    """Which member survives and which is merged into it; `confirm` is set on the confirmation page."""

    survivor = forms.ModelChoiceField(queryset=Member.objects.filter(status=Member.Status.ACTIVE))
    duplicate = forms.ModelChoiceField(queryset=Member.objects.filter(status=Member.Status.ACTIVE))
    confirm = forms.BooleanField(required=False, widget=forms.HiddenInput)

    error_messages = {
        "same": _("A member cannot be merged into themselves."),
    }

    def clean(self):
        cleaned = super().clean()
        survivor, duplicate = cleaned.get("survivor"), cleaned.get("duplicate")
        if survivor is not None and duplicate is not None and survivor.pk == duplicate.pk:
            raise ValidationError(self.error_messages["same"], code="same")
        return cleaned


class LoyaltyCardInlineForm(forms.ModelForm):
    """New cards can be added; an issued card's number is fixed (deactivate it and add another instead)."""

    class Meta:
        model = LoyaltyCard
        fields = ["number", "is_active"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["number"].disabled = True
