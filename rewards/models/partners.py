"""Partners: the companies that supply rewards, with their Polish tax id (NIP)."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from ..media import PublicMediaStorage, public_upload_to

NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)


def nip_normalise(text: str) -> str:
    """'PL 123-456-32-18' and '1234563218' are the same NIP: the digits only, as stored."""
    cleaned = text.strip().upper().replace(" ", "").replace("-", "")
    return cleaned[2:] if cleaned.startswith("PL") else cleaned


def nip_is_valid(nip: str) -> bool:
    """Ten digits whose weighted sum modulo 11 is the last digit (a remainder of 10 is never issued)."""
    if len(nip) != 10 or not nip.isascii() or not nip.isdigit():
        return False
    checksum = sum(int(digit) * weight for digit, weight in zip(nip, NIP_WEIGHTS, strict=False)) % 11
    return checksum == int(nip[9])


def validate_nip(value: str) -> None:
    if value and not nip_is_valid(value):
        raise ValidationError(
            _("%(value)s is not a valid NIP: 10 digits with a correct check digit."),
            code="invalid_nip",
            params={"value": value},
        )


class Partner(models.Model):
    """A company that supplies rewards (a cinema giving ticket vouchers) and may be a place members earn."""

    code = models.SlugField(
        _("code"), max_length=30, unique=True, help_text=_("A short key, e.g. 'kino-helios': imports match on it.")
    )
    name = models.CharField(pgettext_lazy("catalog", "name"), max_length=120)
    legal_name = models.CharField(_("legal name"), max_length=200, blank=True)
    nip = models.CharField(
        _("NIP"), max_length=10, blank=True, validators=[validate_nip], help_text=_("Polish tax id, 10 digits.")
    )
    email = models.EmailField(_("contact email"))
    phone = models.CharField(_("phone"), max_length=16, blank=True)
    website = models.URLField(_("website"), blank=True)
    description = models.TextField(_("description"), blank=True)
    contact_name = models.CharField(_("contact person"), max_length=120, blank=True)
    logo = models.ImageField(
        _("logo"),
        upload_to=public_upload_to("partners"),
        storage=PublicMediaStorage(),
        blank=True,
        help_text=_("PNG, JPEG or WebP; shown to members, so it is a public file."),
    )
    active_from = models.DateField(_("partner from"), null=True, blank=True)
    active_until = models.DateField(
        _("partner until"), null=True, blank=True, help_text=_("Empty: no end date agreed.")
    )
    is_active = models.BooleanField(
        pgettext_lazy("partner", "active"),
        default=True,
        help_text=_("The rewards of an inactive partner are not offered to members."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["name"]
        constraints = [
            # The checksum is Python's (validate_nip); the database keeps at least the shape.
            models.CheckConstraint(
                condition=Q(nip="") | Q(nip__regex=r"^[0-9]{10}$"),
                name="partner_nip_ten_digits",
                violation_error_message=_("The NIP must be 10 digits."),
            ),
            models.CheckConstraint(
                condition=Q(active_from__isnull=True)
                | Q(active_until__isnull=True)
                | Q(active_until__gte=models.F("active_from")),
                name="partner_period_ordered",
                violation_error_message=_("'Partner until' cannot be earlier than 'partner from'."),
            ),
        ]

    def __str__(self) -> str:
        return self.name
