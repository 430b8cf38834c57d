"""The programme's configuration: the settings row, tiers, earning rules and event rules.

A trigger bumps `ProgramSettings.config_version` whenever any of them changes (rewards.config)."""

import secrets
from decimal import Decimal

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


def new_config_version() -> int:
    return secrets.randbits(62)


class ProgramSettings(models.Model):
    """The programme-wide knobs. One row (pk=1); `program_settings()` reads it."""

    base_points_per_pln = models.DecimalField(
        _("base points per PLN"), max_digits=8, decimal_places=3, default=Decimal("1")
    )
    pending_days = models.PositiveIntegerField(
        _("pending days"), default=14, help_text=_("Return window: points wait this long before they can be spent.")
    )
    points_lifetime_months = models.PositiveIntegerField(
        _("points lifetime (months)"), default=12, help_text=_("0 means points never expire.")
    )
    tier_window_months = models.PositiveIntegerField(_("tier window (months)"), default=12)
    tier_grace_days = models.PositiveIntegerField(
        _("tier grace days"), default=30, help_text=_("How long a member keeps a tier after falling below it.")
    )
    max_points_per_purchase = models.PositiveIntegerField(
        _("cap per purchase"), null=True, blank=True, help_text=_("Empty means no cap.")
    )
    # Replaced by database triggers whenever the settings, an earning rule or a tier changes: see rewards.config.
    config_version = models.BigIntegerField(_("configuration version"), default=new_config_version, editable=False)

    class Meta:
        verbose_name = _("programme settings")
        verbose_name_plural = _("programme settings")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="program_settings_singleton")]

    def __str__(self) -> str:
        return str(_("Programme settings"))


class Tier(models.Model):
    class Basis(models.TextChoices):
        SPEND = "spend", _("Spend in the window (PLN)")
        POINTS = "points", _("Points earned in the window")

    code = models.SlugField(_("code"), max_length=20, unique=True)
    name = models.CharField(_("name"), max_length=50)
    rank = models.PositiveSmallIntegerField(
        _("rank"), unique=True, help_text=_("0 is the entry tier; higher is better.")
    )
    basis = models.CharField(_("basis"), max_length=10, choices=Basis.choices, default=Basis.SPEND)
    threshold = models.DecimalField(_("threshold"), max_digits=12, decimal_places=2, default=Decimal("0"))
    earn_multiplier = models.DecimalField(_("earning multiplier"), max_digits=5, decimal_places=2, default=Decimal("1"))
    discount_percent = models.DecimalField(_("discount (%)"), max_digits=5, decimal_places=2, default=Decimal("0"))
    benefits = models.TextField(_("benefits"), blank=True, help_text=_("Shown to members in the portal."))

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(condition=Q(threshold__gte=0), name="tier_threshold_not_negative"),
            models.CheckConstraint(condition=Q(earn_multiplier__gt=0), name="tier_multiplier_positive"),
        ]

    def __str__(self) -> str:
        return self.name


class EarningRule(models.Model):
    """A rule staff configure. Conditions left empty match everything."""

    class Kind(models.TextChoices):
        MULTIPLIER = "multiplier", _("Multiply points")
        BONUS = "bonus", _("Fixed bonus points per purchase")
        EXCLUDE = "exclude", _("Exclude from earning")

    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=12, choices=Kind.choices)
    is_active = models.BooleanField(_("active"), default=True)
    multiplier = models.DecimalField(_("multiplier"), max_digits=6, decimal_places=2, default=Decimal("1"))
    bonus_points = models.PositiveIntegerField(_("bonus points"), default=0)
    # Conditions
    tier = models.ForeignKey(Tier, verbose_name=_("tier"), on_delete=models.PROTECT, null=True, blank=True)
    category = models.CharField(_("category"), max_length=60, blank=True)
    sku = models.CharField(_("SKU"), max_length=40, blank=True)
    store = models.CharField(_("store or channel"), max_length=30, blank=True, help_text=_("'online' or a store code."))
    min_basket = models.DecimalField(_("minimum basket (PLN)"), max_digits=12, decimal_places=2, null=True, blank=True)
    starts_at = models.DateTimeField(_("starts at"), null=True, blank=True)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    weekdays = models.CharField(
        _("weekdays"), max_length=13, blank=True, help_text=_("ISO weekdays the rule runs on, e.g. '6,7' for weekends.")
    )
    max_points = models.PositiveIntegerField(
        _("cap (points)"), null=True, blank=True, help_text=_("Cap on the extra points this rule adds to one purchase.")
    )

    class Meta:
        verbose_name = _("earning rule")
        verbose_name_plural = _("earning rules")
        ordering = ["kind", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(multiplier__gt=0), name="earning_rule_multiplier_positive"),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="earning_rule_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class EventRule(models.Model):
    """Points for something other than a purchase, with a cap per period."""

    class Event(models.TextChoices):
        JOINED = "joined", _("Joined the programme")
        PROFILE_COMPLETED = "profile_completed", _("Completed the profile")
        PRODUCT_RATED = "product_rated", _("Rated a product")
        SURVEY_ANSWERED = "survey_answered", _("Answered a survey")
        NEWSLETTER_CONFIRMED = "newsletter_confirmed", _("Confirmed the newsletter")

    class Period(models.TextChoices):
        DAY = "day", _("Day")
        WEEK = "week", _("Week")
        MONTH = "month", _("Month")
        EVER = "ever", _("Ever")

    event = models.CharField(_("event"), max_length=30, choices=Event.choices, unique=True)
    points = models.PositiveIntegerField(
        _("points"),
    )
    cap_count = models.PositiveIntegerField(
        _("times per period"), default=1, help_text=_("How many times per period it earns.")
    )
    cap_period = models.CharField(_("period"), max_length=10, choices=Period.choices, default=Period.EVER)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("event rule")
        verbose_name_plural = _("event rules")

    def __str__(self) -> str:
        return f"{self.get_event_display()}: {self.points}"
