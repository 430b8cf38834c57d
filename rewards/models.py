"""The points economy: programme settings, the ledger, point lots for expiry, earning rules, tiers, and the
reward catalog with its partners."""

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from members.models import Member, Purchase

from .media import PublicMediaStorage, public_upload_to


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


class PointsAccount(models.Model):
    """A member's stored balances, kept equal to the ledger's sums in the same transaction."""

    member = models.OneToOneField(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="points_account"
    )
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
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

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
        RESTORE = "restore", _("Returned (cancelled redemption)")

    class Bucket(models.TextChoices):
        AVAILABLE = "available", _("Available")
        PENDING = "pending", _("Pending")

    # Indexed by (member, -created_at, -id) below: a single-column index would double the writes for nothing.
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="ledger_entries", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    bucket = models.CharField(_("bucket"), max_length=10, choices=Bucket.choices, default=Bucket.AVAILABLE)
    points = models.IntegerField(
        _("points"),
    )
    reason = models.CharField(_("reason"), max_length=255)
    purchase = models.ForeignKey(
        Purchase, verbose_name=_("purchase"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reference = models.CharField(
        _("reference"), max_length=100, blank=True, help_text=_("What caused it, e.g. refund:12.")
    )
    related_entry = models.ForeignKey(
        "self",
        verbose_name=_("for entry"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # a partial index below: only releases, reversals and merge transfers point at an entry
        help_text=_("The credit this entry releases, reverses or transfers."),
    )
    rules = models.JSONField(
        _("rules applied"), default=list, blank=True, help_text=_("The earning rules that applied.")
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        db_index=False,  # a partial index below: most entries (purchases) have no actor
    )
    # Unique by a constraint below rather than unique=True, which adds a second (LIKE) index on PostgreSQL.
    idempotency_key = models.CharField(_("idempotency key"), max_length=120)
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
            models.Index(fields=["actor"], name="ledger_actor", condition=Q(actor__isnull=False)),
            models.Index(
                fields=["related_entry"], name="ledger_related_entry", condition=Q(related_entry__isnull=False)
            ),
        ]
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="ledger_points_not_zero"),
            models.UniqueConstraint(fields=["idempotency_key"], name="ledger_idempotency_key_unique"),
            # A redemption's debit is given back at most once (rewards.redemption.voucher_cancel).
            models.UniqueConstraint(fields=["related_entry"], condition=Q(kind="restore"), name="ledger_restore_once"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.kind} {self.points:+d}"


class PointsLot(models.Model):
    """Spendable points from one credit, consumed first-in-first-out and expired when their time comes.

    Lots are the consumption index behind the ledger, not the ledger: `remaining` changes as lots are
    spent, and the sum of a member's remaining equals their available balance.
    """

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="+")
    entry = models.OneToOneField(
        LedgerEntry, verbose_name=_("ledger entry"), on_delete=models.PROTECT, related_name="lot"
    )
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
        verbose_name = _("points lot")
        verbose_name_plural = _("points lots")
        indexes = [
            models.Index(fields=["member", "expires_at", "earned_at"], condition=Q(remaining__gt=0), name="lot_open"),
            models.Index(fields=["expires_at"], condition=Q(remaining__gt=0), name="lot_expiring"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(remaining__lte=models.F("points")), name="lot_remaining_within_points")
        ]

    def __str__(self) -> str:
        return f"lot {self.pk}: {self.remaining}/{self.points}"


class LedgerCheck(models.Model):
    """One run of the ledger reconciliation: how many accounts it compared and those whose stored balances
    differ from the ledger or the lots (a sample: member ids and numbers, never sentences)."""

    SAMPLE_SIZE = 100

    started_at = models.DateTimeField(_("started at"))
    finished_at = models.DateTimeField(_("finished at"))
    accounts_checked = models.PositiveIntegerField(_("accounts checked"))
    mismatch_count = models.PositiveIntegerField(_("accounts that differ"))
    # [{"member_id", "balance", "pending", "ledger_available", "ledger_pending", "lots"}], at most SAMPLE_SIZE.
    mismatches = models.JSONField(_("first accounts that differ"), default=list, blank=True)

    class Meta:
        verbose_name = _("ledger check")
        verbose_name_plural = _("ledger checks")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["-started_at", "-id"], name="ledger_check_latest")]
        constraints = [
            models.CheckConstraint(
                condition=Q(finished_at__gte=models.F("started_at")), name="ledger_check_finished_after_start"
            ),
            models.CheckConstraint(
                condition=Q(mismatch_count__lte=models.F("accounts_checked")), name="ledger_check_count_within"
            ),
        ]

    def __str__(self) -> str:
        when = formats.date_format(timezone.localtime(self.started_at), "SHORT_DATETIME_FORMAT")
        return gettext("Ledger check of %(when)s") % {"when": when}


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
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="tier_changes")
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


# --- The reward catalog ----------------------------------------------------------------------------

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


# --- Redemptions and vouchers (rewards.redemption writes them) --------------------------------------


class Redemption(models.Model):
    """A reward a member got for points: the debit, what it was worth and to whom it is settled.

    The reward's values are copied at the moment of redemption, so a later price change never rewrites a
    month already settled. `restore_entry` is set once when the points come back (a cancelled voucher, or an
    unused one expiring when the reward says so)."""

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="+")
    reward = models.ForeignKey(Reward, verbose_name=_("reward"), on_delete=models.PROTECT, related_name="redemptions")
    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    points = models.PositiveIntegerField(_("points"))
    cash_value = models.DecimalField(_("value (PLN)"), max_digits=10, decimal_places=2, null=True, blank=True)
    settlement_value = models.DecimalField(
        _("settlement value (PLN)"), max_digits=10, decimal_places=2, null=True, blank=True
    )
    debit_entry = models.OneToOneField(LedgerEntry, verbose_name=_("debit"), on_delete=models.PROTECT, related_name="+")
    restore_entry = models.OneToOneField(
        LedgerEntry,
        verbose_name=_("points returned by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # When the points of a restored redemption would have expired: the restored lot keeps that date.
    points_expire_at = models.DateTimeField(_("points expire at"), null=True, blank=True, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by staff"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    idempotency_key = models.CharField(_("idempotency key"), max_length=100)
    created_at = models.DateTimeField(_("redeemed at"), default=timezone.now)

    class Meta:
        verbose_name = _("redemption")
        verbose_name_plural = _("redemptions")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["member", "reward"], name="redemption_member_reward"),
            models.Index(fields=["partner", "created_at"], name="redemption_partner_month"),
            models.Index(fields=["-created_at", "-id"], name="redemption_latest"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="redemption_idempotency_key_unique"),
            models.CheckConstraint(condition=Q(points__gt=0), name="redemption_points_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.reward_id} → {self.member_id}"


# Unambiguous when read aloud or typed: no 0/O, no 1/I/L. 31 symbols, 12 of them: about 59 bits.
VOUCHER_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
VOUCHER_CODE_LENGTH = 12


def voucher_code_new() -> str:
    raw = "".join(secrets.choice(VOUCHER_ALPHABET) for _ in range(VOUCHER_CODE_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, VOUCHER_CODE_LENGTH, 4))


def voucher_code_normalise(text: str) -> str:
    """What staff type at the till ('abcd efgh-jk mn', with O for 0) as it is stored: 'ABCD-EFGH-JKMN'."""
    cleaned = "".join(ch for ch in (text or "").upper() if ch.isascii() and ch.isalnum())
    if len(cleaned) != VOUCHER_CODE_LENGTH:
        return cleaned
    return "-".join(cleaned[i : i + 4] for i in range(0, VOUCHER_CODE_LENGTH, 4))


class Voucher(models.Model):
    """The code a member shows at the till for a redemption. Its status moves once, from issued to used,
    expired or cancelled, by conditional UPDATEs in rewards.redemption."""

    class Status(models.TextChoices):
        ISSUED = "issued", _("Issued")
        USED = "used", _("Used")
        EXPIRED = "expired", _("Expired")
        CANCELLED = "cancelled", _("Cancelled")

    redemption = models.OneToOneField(
        Redemption, verbose_name=_("redemption"), on_delete=models.PROTECT, related_name="voucher"
    )
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="+")
    reward = models.ForeignKey(Reward, verbose_name=_("reward"), on_delete=models.PROTECT, related_name="+")
    code = models.CharField(_("code"), max_length=20)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ISSUED)
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    expires_at = models.DateTimeField(_("valid until"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    used_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("used at the till by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True, help_text=_("Used, expired or cancelled."))
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("cancelled by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("voucher")
        verbose_name_plural = _("vouchers")
        ordering = ["-issued_at", "-id"]
        permissions = [
            ("use_voucher", "Can look vouchers up and mark them used at the till"),
            ("cancel_voucher", "Can cancel vouchers (points and stock return)"),
            ("redeem_for_member", "Can redeem rewards for a member"),
        ]
        indexes = [
            models.Index(fields=["member", "-issued_at"], name="voucher_member_latest"),
            models.Index(fields=["expires_at"], name="voucher_issued_expiry", condition=Q(status="issued")),
        ]
        constraints = [
            models.UniqueConstraint(fields=["code"], name="voucher_code_unique"),
            models.CheckConstraint(
                condition=Q(status__in=["issued", "used", "expired", "cancelled"]), name="voucher_status_known"
            ),
            models.CheckConstraint(
                condition=Q(expires_at__gt=models.F("issued_at")), name="voucher_expiry_after_issue"
            ),
            models.CheckConstraint(
                condition=Q(status="used", used_at__isnull=False) | (~Q(status="used") & Q(used_at__isnull=True)),
                name="voucher_used_has_time",
            ),
            models.CheckConstraint(
                condition=Q(status="issued", closed_at__isnull=True)
                | (~Q(status="issued") & Q(closed_at__isnull=False)),
                name="voucher_closed_has_time",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def is_usable(self) -> bool:
        return self.status == self.Status.ISSUED and self.expires_at > timezone.now()


class VoucherLookup(models.Model):
    """Every code a staff member looked up at the till, found or not (the rate limit counts these)."""

    class Outcome(models.TextChoices):
        FOUND = "found", _("Found")
        NOT_FOUND = "not_found", _("Not found")
        LIMITED = "limited", _("Refused: too many look-ups")

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("staff member"), on_delete=models.PROTECT, related_name="+"
    )
    code_entered = models.CharField(_("code entered"), max_length=40)
    voucher = models.ForeignKey(
        Voucher, verbose_name=_("voucher"), on_delete=models.PROTECT, null=True, blank=True, related_name="lookups"
    )
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    looked_up_at = models.DateTimeField(_("looked up at"), default=timezone.now)

    class Meta:
        verbose_name = _("voucher look-up")
        verbose_name_plural = _("voucher look-ups")
        ordering = ["-looked_up_at", "-id"]
        indexes = [models.Index(fields=["actor", "-looked_up_at"], name="voucher_lookup_actor_latest")]

    def __str__(self) -> str:
        return f"{self.code_entered} ({self.outcome})"
