"""Challenges and their progress, badges, the leaderboard's opt-ins, referrals and the engagement settings."""

from datetime import timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member, Purchase
from rewards.models import LedgerEntry, Tier


class EngagementSettings(models.Model):
    """The programme's knobs for referrals and birthdays. One row (pk=1); `engagement_settings()` reads it."""

    referral_min_purchase = models.DecimalField(
        _("referral: minimum first purchase (PLN)"),
        max_digits=10,
        decimal_places=2,
        default=Decimal("50"),
        help_text=_("The referred member's first purchase of at least this amount earns points for both."),
    )
    referral_points_referrer = models.PositiveIntegerField(_("referral: points for the referrer"), default=200)
    referral_points_referee = models.PositiveIntegerField(_("referral: points for the new member"), default=100)
    referral_monthly_cap = models.PositiveIntegerField(
        _("referral: rewarded referrals per referrer per month"), default=5
    )
    birthday_points = models.PositiveIntegerField(
        _("birthday bonus (points)"), default=100, help_text=_("0 turns the birthday bonus off.")
    )

    class Meta:
        verbose_name = _("engagement settings")
        verbose_name_plural = _("engagement settings")
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="engagement_settings_singleton"),
            models.CheckConstraint(
                condition=Q(referral_min_purchase__gte=0), name="engagement_referral_min_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return str(_("Engagement settings"))


class Badge(models.Model):
    class Milestone(models.TextChoices):
        NONE = "", _("None (given by challenges)")
        FIRST_PURCHASE = "first_purchase", _("First purchase")
        ONE_YEAR = "one_year", _("One year in the programme")
        TIER_REACHED = "tier_reached", _("Tier reached")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    image = models.ImageField(_("image"), upload_to="badges/", blank=True)
    milestone = models.CharField(_("milestone"), max_length=20, choices=Milestone.choices, blank=True, default="")
    tier = models.ForeignKey(
        Tier,
        verbose_name=_("tier"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("For the 'tier reached' milestone: this tier or a higher one."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("badge")
        verbose_name_plural = _("badges")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(milestone="tier_reached") | Q(tier__isnull=False),
                name="badge_tier_milestone_has_tier",
                violation_error_message=_("A 'tier reached' badge needs a tier."),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class BadgeAward(models.Model):
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="+")
    badge = models.ForeignKey(Badge, verbose_name=_("badge"), on_delete=models.PROTECT, related_name="awards")
    awarded_at = models.DateTimeField(_("awarded at"), default=timezone.now)
    challenge = models.ForeignKey(
        "Challenge", verbose_name=_("challenge"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("badge earned")
        verbose_name_plural = _("badges earned")
        ordering = ["-awarded_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["member", "badge"], name="badge_award_once")]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.badge_id}"


class Challenge(models.Model):
    """A time-boxed goal. Progress is counted from the purchases, refunds, enrolments and referrals the
    posting paths announce (rewards.engagement.receivers); reaching the target awards the prize once."""

    class Kind(models.TextChoices):
        PURCHASES = "purchases", _("Make N purchases")
        SPEND = "spend", _("Spend X PLN")
        CATEGORY = "category", _("Buy in a category N times")
        NEW_STORE = "new_store", _("Try N stores or channels new to the member")
        PROFILE = "profile", _("Complete the profile")
        REFERRALS = "referrals", _("Refer N friends")
        FIRST_PURCHASE = "first_purchase", _("First purchase after joining")

    class Audience(models.TextChoices):
        EVERYONE = "everyone", _("Everyone")
        TIER = "tier", _("A tier or higher")
        KIND = "kind", _("A registered audience (e.g. a segment)")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True, help_text=_("Shown to members."))
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    target = models.DecimalField(
        _("target"),
        max_digits=12,
        decimal_places=2,
        default=Decimal("1"),
        help_text=_("How many purchases, stores or friends; for 'spend', the amount in PLN."),
    )
    category = models.CharField(
        _("category"), max_length=60, blank=True, help_text=_("Only purchases with a line of this category count.")
    )
    store = models.CharField(
        _("store or channel"),
        max_length=30,
        blank=True,
        help_text=_("Only purchases here count ('online' or a store code)."),
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    points = models.PositiveIntegerField(_("prize (points)"), default=0)
    badge = models.ForeignKey(
        Badge,
        verbose_name=_("prize (badge)"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="challenges",
    )
    audience = models.CharField(_("audience"), max_length=10, choices=Audience.choices, default=Audience.EVERYONE)
    tier = models.ForeignKey(
        Tier, verbose_name=_("tier"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    audience_kind = models.CharField(_("audience kind"), max_length=30, blank=True)
    audience_ref = models.CharField(_("audience"), max_length=100, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("challenge")
        verbose_name_plural = _("challenges")
        ordering = ["-starts_at", "name"]
        indexes = [models.Index(fields=["ends_at", "starts_at"], name="challenge_window", condition=Q(is_active=True))]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")),
                name="challenge_period_ordered",
                violation_error_message=_("The end must be later than the start."),
            ),
            models.CheckConstraint(
                condition=Q(target__gt=0),
                name="challenge_target_positive",
                violation_error_message=_("The target must be greater than zero."),
            ),
            models.CheckConstraint(
                condition=Q(points__gt=0) | Q(badge__isnull=False),
                name="challenge_has_prize",
                violation_error_message=_("A challenge needs a prize: points, a badge or both."),
            ),
            models.CheckConstraint(
                condition=~Q(audience="tier") | Q(tier__isnull=False),
                name="challenge_tier_audience_has_tier",
                violation_error_message=_("Pick the tier of the audience."),
            ),
            models.CheckConstraint(
                condition=~Q(audience="kind") | (~Q(audience_kind="") & ~Q(audience_ref="")),
                name="challenge_kind_audience_has_ref",
                violation_error_message=_("Pick the registered audience and which one of it."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        super().clean()
        if self.kind != self.Kind.SPEND and self.target is not None and self.target != int(self.target):
            raise ValidationError({"target": _("This kind of challenge counts whole numbers.")})
        if self.audience == self.Audience.KIND:
            from . import audiences

            kind = audiences.get(self.audience_kind)
            if kind is None:
                raise ValidationError({"audience_kind": _("No audience of this kind is registered.")})
            if self.audience_ref not in {ref for ref, _label in kind.choices()}:
                raise ValidationError({"audience_ref": _("There is no such audience.")})

    @property
    def last_moment(self):
        """The end is exclusive (midnight of the next day): members are told the last moment that counts."""
        return self.ends_at - timedelta(microseconds=1)

    @property
    def is_spend(self) -> bool:
        return self.kind == self.Kind.SPEND


class ChallengeProgress(models.Model):
    """How far a member is in a challenge: a count, or PLN for 'spend'."""

    challenge = models.ForeignKey(
        Challenge, verbose_name=_("challenge"), on_delete=models.CASCADE, related_name="progress"
    )
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="+")
    value = models.DecimalField(_("progress"), max_digits=12, decimal_places=2, default=Decimal("0"))
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("challenge progress")
        verbose_name_plural = _("challenge progress")
        indexes = [models.Index(fields=["member"], name="challenge_progress_member")]
        constraints = [
            models.UniqueConstraint(fields=["challenge", "member"], name="challenge_progress_once"),
            models.CheckConstraint(condition=Q(value__gte=0), name="challenge_progress_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.challenge_id}/{self.member_id}: {self.value}"


class ChallengeCompletion(models.Model):
    """A challenge completed: the one row that lets its prize be awarded, once per member."""

    challenge = models.ForeignKey(
        Challenge, verbose_name=_("challenge"), on_delete=models.PROTECT, related_name="completions"
    )
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="+")
    completed_at = models.DateTimeField(_("completed at"), default=timezone.now)
    entry = models.ForeignKey(
        LedgerEntry, verbose_name=_("points entry"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        verbose_name = _("challenge completion")
        verbose_name_plural = _("challenge completions")
        ordering = ["-completed_at", "-id"]
        indexes = [models.Index(fields=["member"], name="challenge_completion_member")]
        constraints = [models.UniqueConstraint(fields=["challenge", "member"], name="challenge_completed_once")]

    def __str__(self) -> str:
        return f"{self.challenge_id}/{self.member_id}"


class LeaderboardProfile(models.Model):
    """A member's choice to appear on leaderboards, and under which name. Kept off members.Member."""

    member = models.OneToOneField(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="leaderboard_profile"
    )
    display_name = models.CharField(_("display name"), max_length=30)
    opted_in = models.BooleanField(_("shown on leaderboards"), default=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("leaderboard profile")
        verbose_name_plural = _("leaderboard profiles")
        constraints = [
            models.UniqueConstraint(
                Lower("display_name"),
                name="leaderboard_display_name_unique",
                violation_error_message=_("Someone already uses this name; pick another one."),
            ),
        ]

    def __str__(self) -> str:
        return self.display_name


class Referral(models.Model):
    """A referred member (the referee) and what came of it; one per referee."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for the first purchase")
        REWARDED = "rewarded", _("Rewarded")
        REFUSED = "refused", _("Not rewarded")

    class Refusal(models.TextChoices):
        NONE = "", "-"
        SELF = "self", _("The same person (email, phone or card)")
        CAP = "cap", _("The referrer's monthly limit was reached")

    referee = models.OneToOneField(
        Member, verbose_name=_("new member"), on_delete=models.CASCADE, related_name="referral"
    )
    referrer = models.ForeignKey(Member, verbose_name=_("referrer"), on_delete=models.CASCADE, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    refusal = models.CharField(_("why not"), max_length=10, choices=Refusal.choices, blank=True, default="")
    purchase = models.ForeignKey(
        Purchase,
        verbose_name=_("qualifying purchase"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("referral")
        verbose_name_plural = _("referrals")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["referrer", "status", "decided_at"], name="referral_referrer")]
        constraints = [
            models.CheckConstraint(condition=~Q(referee=models.F("referrer")), name="referral_not_self"),
            models.CheckConstraint(
                condition=Q(status="refused", refusal__in=["self", "cap"]) | (~Q(status="refused") & Q(refusal="")),
                name="referral_refusal_with_status",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.referrer_id} -> {self.referee_id}"
