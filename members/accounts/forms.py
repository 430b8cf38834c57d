"""The portal's account forms: log in, join, claim a membership, reset a password, edit the profile."""

import re

from django import forms
from django.conf import settings
from django.contrib.auth import forms as auth_forms
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.forms import PhoneField
from members.models import Channel, ConsentPurpose, ConsentText, Member

from .identifiers import LOGIN_STATUSES


class LoginForm(auth_forms.AuthenticationForm):
    """Django's login form; the `username` field takes an email, a phone, or a card or member number."""

    error_messages = {
        **auth_forms.AuthenticationForm.error_messages,
        "invalid_login": _(
            "The email, phone or card number and the password do not match. Check both; the password is case-sensitive."
        ),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].label = _("Email, phone or card number")
        self.fields["username"].max_length = 254
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "autocapitalize": "none"})
        self.fields["password"].label = _("Password")


def consent_choices() -> list[tuple[str, str, str, ConsentText | None]]:
    """(field name, channel, purpose, current text) for every channel and purpose."""
    texts = {}
    for text in ConsentText.objects.order_by("channel", "purpose", "-valid_from", "-id"):
        texts.setdefault((text.channel, text.purpose), text)
    return [
        (f"consent_{channel}_{purpose}", channel, purpose, texts.get((channel, purpose)))
        for channel in Channel.values
        for purpose in ConsentPurpose.values
    ]


class PasswordMixin:
    def clean_password(self):
        password = self.cleaned_data.get("password")
        user = get_user_model()(
            username="", email=self.cleaned_data.get("email", ""), first_name=self.cleaned_data.get("first_name", "")
        )
        password_validation.validate_password(password, user)
        return password


class SignUpForm(PasswordMixin, forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=100)
    last_name = forms.CharField(label=_("Last name"), max_length=100)
    email = forms.EmailField(label=_("Email"), max_length=254)
    phone = PhoneField(label=_("Phone (optional)"), required=False, max_length=20)
    password = forms.CharField(
        label=_("Password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters, not only digits, not a common password."),
    )
    referral_code = forms.CharField(label=_("Referral code (optional)"), max_length=12, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.consents = consent_choices()
        for name, channel, purpose, text in self.consents:
            field = forms.BooleanField(required=False, initial=False, label=_consent_label(channel, purpose))
            field.consent_text = text
            self.fields[name] = field
        for name in ("first_name", "last_name"):
            self.fields[name].widget.attrs["autocomplete"] = "given-name" if name == "first_name" else "family-name"
        self.fields["email"].widget.attrs["autocomplete"] = "email"
        self.fields["phone"].widget.attrs.update({"autocomplete": "tel", "inputmode": "tel"})
        self.fields["referral_code"].widget.attrs["autocapitalize"] = "characters"

    def consent_fields(self):
        return [self[name] for name, *_rest in self.consents]

    def chosen_consents(self) -> list[tuple[str, str]]:
        return [(channel, purpose) for name, channel, purpose, _text in self.consents if self.cleaned_data.get(name)]


def _consent_label(channel: str, purpose: str) -> str:
    return f"{Channel(channel).label}: {ConsentPurpose(purpose).label}"


class ClaimStartForm(forms.Form):
    number = forms.CharField(label=_("Card or member number"), max_length=32)
    contact = forms.CharField(
        label=_("Email or phone you gave us"),
        max_length=254,
        help_text=_("We send a code there; it must be the one on file."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["number"].widget.attrs.update({"inputmode": "numeric", "autocomplete": "off"})
        self.fields["contact"].widget.attrs.update({"autocomplete": "email", "autocapitalize": "none"})


class NewPasswordForm(PasswordMixin, forms.Form):
    password = forms.CharField(
        label=_("Choose a password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters, not only digits, not a common password."),
    )


class ClaimCodeForm(NewPasswordForm):
    code = forms.CharField(label=_("Code"), max_length=12)
    field_order = ["code", "password"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"].widget.attrs.update(
            {"inputmode": "numeric", "autocomplete": "one-time-code", "pattern": "[0-9 ]*"}
        )


class PasswordResetForm(auth_forms.PasswordResetForm):
    """Django's reset form, finding the login through the member's email as well as the login's own."""

    def get_users(self, email):
        email = email.strip().lower()
        user_model = get_user_model()
        member_users = Member.objects.filter(email=email, status__in=LOGIN_STATUSES, user__isnull=False).values(
            "user_id"
        )
        users = user_model._default_manager.filter(is_active=True).filter(
            pk__in=member_users
        ) | user_model._default_manager.filter(is_active=True, email__iexact=email)
        for user in users.distinct():
            if user.has_usable_password():
                yield user

    def send_mail(self, subject_template_name, email_template_name, context, from_email, to_email, **kwargs):
        # To the address typed, which matched this login's or its member's address: the login's own may be empty
        # or older than the member's (the profile changes the member's).
        to_email = self.cleaned_data["email"].strip().lower()
        super().send_mail(subject_template_name, email_template_name, context, from_email, to_email, **kwargs)


class ProfileForm(forms.ModelForm):
    phone = PhoneField(label=_("Phone"), required=False, max_length=20)

    class Meta:
        model = Member
        fields = [
            "first_name",
            "last_name",
            "email",
            "phone",
            "birth_date",
            "city",
            "postal_code",
            "preferred_channel",
            "preferred_language",
        ]
        widgets = {"birth_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["email"].required = True
        self.fields["preferred_language"].choices = settings.LANGUAGES
        autocomplete = {
            "first_name": "given-name",
            "last_name": "family-name",
            "email": "email",
            "phone": "tel",
            "birth_date": "bday",
            "city": "address-level2",
            "postal_code": "postal-code",
        }
        for name, value in autocomplete.items():
            self.fields[name].widget.attrs["autocomplete"] = value

    def clean_email(self):
        email = (self.cleaned_data.get("email") or "").strip().lower()
        taken = (
            Member.objects.filter(email=email, status__in=LOGIN_STATUSES, user__isnull=False)
            .exclude(pk=self.instance.pk)
            .exists()
        )
        if taken:
            raise ValidationError(_("Another account uses this email. Use a different one."))
        return email

    def clean_postal_code(self):
        code = (self.cleaned_data.get("postal_code") or "").strip()
        if code and not re.fullmatch(r"[0-9]{2}-[0-9]{3}", code):
            raise ValidationError(_("Enter the postal code as two digits, a dash and three digits, e.g. 00-950."))
        return code

    def clean_birth_date(self):
        value = self.cleaned_data.get("birth_date")
        if value and value > timezone.localdate():
            raise ValidationError(_("The birth date cannot be in the future."))
        return value


class ErasureConfirmForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    confirm = forms.BooleanField(label=_("I understand that my points and my account will be gone for good."))

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_password(self):
        password = self.cleaned_data.get("password")
        if not self.user.check_password(password):
            raise ValidationError(_("The password is not correct."))
        return password
