"""The points economy: programme settings, the ledger, point lots for expiry, earning rules and tiers."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, Purchase


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


class PointsAccount(models.Model):
    """A member's stored balances, kept equal to the ledger's sums in the same transaction."""

    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="points_account")
    balance = models.IntegerField(_("balance"), default=0, help_text=_("Points the member can spend now."))
    pending = models.IntegerField(_("pending"), default=0, help_text=_("Points waiting for the return window to pass."))
    tier = models.ForeignKey(Tier, verbose_name=_("tier"), on_delete=models.PROTECT, null=True, blank=True)
    tier_since = models.DateTimeField(_("tier since"), null=True, blank=True)
    tier_below_since = models.DateTimeField(
        _("below the tier since"),
        null=True,
        blank=True,
        help_text=_("When the member first fell below their tier: the grace period start."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("points account")
        verbose_name_plural = _("points accounts")
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="points_balance_not_negative"),
            models.CheckConstraint(condition=Q(pending__gte=0), name="points_pending_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.balance}"


class LedgerEntry(models.Model):
    """One posted change of points. Never updated or deleted: corrections are new entries."""

    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        BONUS = "bonus", _("Bonus")
        REDEEM = "redeem", _("Redeemed")
        EXPIRE = "expire", _("Expired")
        ADJUST = "adjust", _("Adjustment")
        REVERSE = "reverse", _("Reversal")
        RELEASE = "release", _("Released from pending")
        TRANSFER = "transfer", _("Transfer (member merge)")

    class Bucket(models.TextChoices):
        AVAILABLE = "available", _("Available")
        PENDING = "pending", _("Pending")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="ledger_entries")
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    bucket = models.CharField(_("bucket"), max_length=10, choices=Bucket.choices, default=Bucket.AVAILABLE)
    points = models.IntegerField(
        _("points"),
    )
    reason = models.CharField(_("reason"), max_length=255)
    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    reference = models.CharField(
        _("reference"), max_length=100, blank=True, help_text=_("What caused it, e.g. refund:12.")
    )
    rules = models.JSONField(
        _("rules applied"), default=list, blank=True, help_text=_("The earning rules that applied.")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.PROTECT, null=True, blank=True
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=120, unique=True)
    available_at = models.DateTimeField(_("available at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    class Meta:
        verbose_name = _("ledger entry")
        verbose_name_plural = _("ledger entries")
        permissions = [("adjust_points", "Can adjust members' points")]
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["member", "-created_at", "-id"]),
            models.Index(
                fields=["available_at"], name="ledger_pending_due", condition=Q(bucket="pending", points__gt=0)
            ),
        ]
        constraints = [models.CheckConstraint(condition=~Q(points=0), name="ledger_points_not_zero")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.kind} {self.points:+d}"


class PointsLot(models.Model):
    """Spendable points from one credit, consumed first-in-first-out and expired when their time comes.

    Lots are the consumption index behind the ledger, not the ledger: `remaining` changes as lots are
    spent, and the sum of a member's remaining equals their available balance.
    """

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="lot")
    points = models.PositiveIntegerField(
        _("points"),
    )
    remaining = models.PositiveIntegerField(
        _("remaining"),
    )
    earned_at = models.DateTimeField(
        _("earned at"),
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["member", "expires_at", "earned_at"], condition=Q(remaining__gt=0), name="lot_open"),
            models.Index(fields=["expires_at"], condition=Q(remaining__gt=0), name="lot_expiring"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(remaining__lte=models.F("points")), name="lot_remaining_within_points")
        ]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.remaining}/{self.points}"


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


class TierChange(models.Model):
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="tier_changes")
    from_tier = models.ForeignKey(
        Tier, verbose_name=_("from tier"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_tier = models.ForeignKey(
        Tier, verbose_name=_("to tier"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(_("reason"), max_length=200)
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.from_tier} -> {self.to_tier}"
