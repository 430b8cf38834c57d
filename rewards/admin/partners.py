"""Partners, the companies that supply rewards. The engage-imports branch adds one mixin to PartnerAdmin's bases."""

from django import forms
from django.contrib import admin
from django.core.files.uploadedfile import UploadedFile
from django.db.models import Count
from django.urls import path
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from loyalty_site.files.admin_exports import SafeExportAdminMixin
from members.phones import normalise_phone

from ..exports import (
    PartnerResource,
)
from ..media import image_clean
from ..models import (
    Partner,
    nip_normalise,
)
from .partner_awards import PartnerAwardsAdminMixin
from .redemptions import partner_settlement_view


def cleaned_image(upload):
    """A newly uploaded image checked, resized and re-encoded (rewards.media); a kept or cleared one as it is."""
    if isinstance(upload, UploadedFile):
        return image_clean(upload)
    return upload


class PartnerAdminForm(forms.ModelForm):
    """Staff type a NIP and a phone as they have them ('PL 123-456-32-18', '22 123 45 67'); they are stored
    in one form, which the NIP checksum and the imports' matching rely on."""

    # Declared fields get neither the model's capitalised label nor the admin's widths: give them both.
    nip = forms.CharField(
        label=_("NIP"),
        max_length=20,
        required=False,
        help_text=_("Polish tax id, 10 digits."),
        widget=forms.TextInput(attrs={"class": "vTextField"}),
    )
    # As the import does: "www.helios.pl" is https://www.helios.pl.
    website = forms.URLField(
        label=capfirst(_("website")),
        max_length=200,
        required=False,
        assume_scheme="https",
        widget=forms.URLInput(attrs={"class": "vURLField"}),
    )

    class Meta:
        model = Partner
        fields = [
            "name",
            "code",
            "legal_name",
            "nip",
            "is_active",
            "active_from",
            "active_until",
            "contact_name",
            "email",
            "phone",
            "website",
            "logo",
            "description",
        ]

    def clean_logo(self):
        return cleaned_image(self.cleaned_data.get("logo"))

    def clean_nip(self):
        return nip_normalise(self.cleaned_data["nip"])

    def clean_phone(self):
        phone = self.cleaned_data["phone"]
        if not phone:
            return phone
        try:
            return normalise_phone(phone)
        except ValueError:
            raise forms.ValidationError(
                _("Enter a phone number, e.g. +48221234567 or 22 123 45 67."), code="invalid_phone"
            ) from None


@admin.register(Partner)
class PartnerAdmin(PartnerAwardsAdminMixin, SafeExportAdminMixin, admin.ModelAdmin):
    form = PartnerAdminForm
    # Explicit: the rewards count's GROUP BY drops Meta.ordering, which left the reward form's partner
    # autocomplete in no order (and Django warning about unordered pagination).
    ordering = ["name"]
    resource_classes = [PartnerResource]
    list_display = ["name", "code", "nip", "email", "phone", "rewards_count", "is_active"]
    list_display_links = ["name"]
    list_filter = ["is_active"]
    search_fields = ["code", "name", "legal_name", "nip", "email"]
    prepopulated_fields = {"code": ["name"]}
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", "code", "legal_name", "nip", "is_active", ("active_from", "active_until")]}),
        (_("Contact"), {"fields": ["contact_name", "email", "phone", "website"]}),
        (_("About"), {"fields": ["logo", "description"]}),
        (_("Record"), {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(rewards_count=Count("rewards"))

    def get_urls(self):
        def settlement(request, object_id):
            return partner_settlement_view(self, request, object_id)

        return [
            path(
                "<path:object_id>/settlement/",
                self.admin_site.admin_view(settlement),
                name="rewards_partner_settlement",
            ),
            *super().get_urls(),
        ]

    @admin.display(description=_("rewards"), ordering="rewards_count")
    def rewards_count(self, partner):
        return partner.rewards_count
