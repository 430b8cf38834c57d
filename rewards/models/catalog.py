"""The reward catalog: rewards and the shelves (categories) members filter them by."""

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from ..media import PublicMediaStorage, public_upload_to
from .partners import Partner
from .programme import Tier


class Reward(models.Model):
    """Something members can get for points, from the programme itself or from a partner."""

    class Kind(models.TextChoices):
        PRODUCT = "product", _("Free product")
        VOUCHER = "voucher", _("Fixed-amount voucher")
        DISCOUNT = "discount", _("Discount voucher (percent)")
        FREE_DELIVERY = "free_delivery", _("Free delivery")
        EXPERIENCE = "experience", _("Experience (event, ticket)")
        PARTNER_OFFER = "partner_offer", _("Partner offer")
        DONATION = "donation", _("Charity donation")

    code = models.SlugField(
        _("code"), max_length=40, unique=True, help_text=_("A short key, e.g. 'kino-2-bilety': imports match on it.")
    )
    name = models.CharField(pgettext_lazy("catalog", "name"), max_length=200)
    description = models.TextField(_("description"), blank=True, help_text=_("Shown to members in the catalog."))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    category = models.CharField(
        _("category"),
        max_length=60,
        blank=True,
        help_text=_("Free text from the imports; the catalog uses 'categories'."),
    )
    categories = models.ManyToManyField("Category", verbose_name=_("categories"), blank=True, related_name="rewards")
    image = models.ImageField(
        _("image"),
        upload_to=public_upload_to("rewards"),
        storage=PublicMediaStorage(),
        blank=True,
        help_text=_("PNG, JPEG or WebP; resized to at most 800 px and shown to members."),
    )
    points_cost = models.PositiveIntegerField(_("cost in points"))
    cash_value = models.DecimalField(
        _("value (PLN)"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("What the reward is worth to a member, for reports."),
    )
    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rewards",
        help_text=_("Empty: the programme supplies it itself."),
    )
    settlement_value = models.DecimalField(
        _("settlement value (PLN)"),
        max_digits=10,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("What the programme pays the partner per redemption (the monthly settlement)."),
    )
    voucher_valid_days = models.PositiveIntegerField(
        _("voucher valid (days)"), default=30, help_text=_("How long a voucher for this reward can be used.")
    )
    return_unused = models.BooleanField(
        _("return points of unused vouchers"),
        default=False,
        help_text=_("When a voucher expires unused, the member gets the points back and the stock returns."),
    )
    stock = models.PositiveIntegerField(_("stock"), null=True, blank=True, help_text=_("Empty means unlimited."))
    per_member_limit = models.PositiveIntegerField(
        _("limit per member"),
        null=True,
        blank=True,
        help_text=_("How many times one member may get it; empty: no limit."),
    )
    min_tier = models.ForeignKey(
        Tier,
        verbose_name=_("lowest tier"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Only members in this tier or a higher one may get it; empty: everyone."),
    )
    available_from = models.DateTimeField(_("available from"), null=True, blank=True)
    available_until = models.DateTimeField(_("available until"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    terms = models.TextField(_("terms"), blank=True, help_text=_("The conditions of use members agree to."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("reward")
        verbose_name_plural = _("rewards")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(points_cost__gt=0),
                name="reward_points_cost_positive",
                violation_error_message=_("The cost in points must be greater than zero."),
            ),
            models.CheckConstraint(
                condition=Q(stock__isnull=True) | Q(stock__gte=0),
                name="reward_stock_not_negative",
                violation_error_message=_("The stock cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(per_member_limit__isnull=True) | Q(per_member_limit__gt=0),
                name="reward_per_member_limit_positive",
                violation_error_message=_("The limit per member must be at least 1; leave it empty for no limit."),
            ),
            models.CheckConstraint(
                condition=Q(settlement_value__isnull=True) | Q(settlement_value__gte=0),
                name="reward_settlement_value_not_negative",
                violation_error_message=_("The settlement value cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(voucher_valid_days__gt=0),
                name="reward_voucher_valid_days_positive",
                violation_error_message=_("A voucher must be valid for at least one day."),
            ),
            models.CheckConstraint(
                condition=Q(cash_value__isnull=True) | Q(cash_value__gte=0),
                name="reward_cash_value_not_negative",
                violation_error_message=_("The value cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(available_from__isnull=True)
                | Q(available_until__isnull=True)
                | Q(available_until__gt=models.F("available_from")),
                name="reward_availability_ordered",
                violation_error_message=_("'Available until' must be later than 'available from'."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        # The constraint above would say it at the top of the form; said here, it stands by the field.
        super().clean()
        if self.available_from and self.available_until and self.available_until <= self.available_from:
            raise ValidationError({"available_until": _("'Available until' must be later than 'available from'.")})


class Category(models.Model):
    """A shelf of the catalog members filter by (a reward may stand on several)."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(pgettext_lazy("catalog", "name"), max_length=80)
    position = models.PositiveSmallIntegerField(_("position"), default=0, help_text=_("Lower comes first."))

    class Meta:
        verbose_name = _("category")
        verbose_name_plural = _("categories")
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name
