"""Who a member is: the profile, loyalty cards, consent history, purchases and refunds."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty_site.admin_format import TIMES, plain

E164_VALIDATOR = RegexValidator(
    r"^\+[1-9]\d{6,14}$", _("Enter the phone number in international format, e.g. +48601234567.")
)


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")


class Member(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        ERASED = "erased", _("Erased")
        MERGED = "merged", _("Merged into another member")

    class Gender(models.TextChoices):
        FEMALE = "f", _("Female")
        MALE = "m", _("Male")
        OTHER = "x", _("Other")

    class JoinSource(models.TextChoices):
        STORE = "store", _("In store")
        ONLINE = "online", _("Online")
        IMPORT = "import", _("Import")
        REFERRAL = "referral", _("Referral")
        ADMIN = "admin", _("Staff")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("portal login"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="member",
        help_text=_("Portal login. Members imported from a till system may have none yet."),
    )
    member_number = models.CharField(_("member number"), max_length=20, unique=True)
    first_name = models.CharField(_("first name"), max_length=100)
    last_name = models.CharField(_("last name"), max_length=100)
    email = models.EmailField(_("email"), blank=True, db_index=True)
    phone = models.CharField(_("phone"), max_length=16, blank=True, db_index=True, validators=[E164_VALIDATOR])
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True, db_index=True)
    postal_code = models.CharField(_("postal code"), max_length=10, blank=True)
    preferred_language = models.CharField(
        _("preferred language"), max_length=5, choices=settings.LANGUAGES, default="pl"
    )
    preferred_channel = models.CharField(
        _("preferred channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL
    )
    joined_at = models.DateTimeField(_("joined at"), default=timezone.now, db_index=True)
    join_source = models.CharField(_("join source"), max_length=10, choices=JoinSource.choices, default="store")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE)
    referral_code = models.CharField(_("referral code"), max_length=12, unique=True)
    referred_by = models.ForeignKey(
        "self",
        verbose_name=_("referred by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
    )
    merged_into = models.ForeignKey(
        "self",
        verbose_name=_("merged into"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="merged_members",
    )
    email_verified_at = models.DateTimeField(
        _("email verified at"),
        null=True,
        blank=True,
        help_text=_("When the member confirmed the address by a link or code; empty: not confirmed."),
    )

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        ordering = ["member_number"]
        indexes = [models.Index(fields=["last_name", "first_name"])]
        permissions = [
            ("view_member_personal_data", "Can see and export members' personal data"),
            ("merge_members", "Can merge duplicate members"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="merged", merged_into__isnull=False)
                | (~Q(status="merged") & Q(merged_into__isnull=True)),
                name="member_merged_has_target",
            ),
            models.CheckConstraint(condition=~Q(referred_by=models.F("id")), name="member_not_self_referred"),
        ]

    def __str__(self) -> str:
        return f"{self.member_number} {self.first_name} {self.last_name}"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"


class LoyaltyCard(models.Model):
    number = models.CharField(_("card number"), max_length=32, unique=True)
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="cards")
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("loyalty card")
        verbose_name_plural = _("loyalty cards")

    def __str__(self) -> str:
        return self.number


class MemberChange(models.Model):
    """Who changed which field of a member and when: the audit trail staff edits leave."""

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="changes")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.SET_NULL, null=True, blank=True
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now, db_index=True)
    field = models.CharField(_("field"), max_length=50)
    old_value = models.TextField(_("old value"), blank=True)
    new_value = models.TextField(_("new value"), blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("member change")
        verbose_name_plural = _("member changes")
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.member_id} {self.field} {self.changed_at:%Y-%m-%d %H:%M}"


class ConsentPurpose(models.TextChoices):
    MARKETING = "marketing", _("Marketing")
    PROFILING = "profiling", _("Profiling and personalisation")
    PARTNERS = "partners", _("Sharing with partners")


class ConsentText(models.Model):
    """A version of the consent wording shown to members; events record which version they saw."""

    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    purpose = models.CharField(_("purpose"), max_length=20, choices=ConsentPurpose.choices)
    version = models.CharField(_("version"), max_length=20)
    text = models.TextField(
        _("text"),
    )
    valid_from = models.DateField(_("valid from"), default=timezone.localdate)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("consent text")
        verbose_name_plural = _("consent texts")
        ordering = ["channel", "purpose", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["channel", "purpose", "version"], name="consent_text_version_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} / {self.get_purpose_display()} v{self.version}"


class ConsentEvent(models.Model):
    """One change of one consent. Append-only: the current state is the latest event."""

    class Source(models.TextChoices):
        PORTAL = "portal", _("Portal")
        IMPORT = "import", _("Import")
        ADMIN = "admin", _("Staff (admin)")
        UNSUBSCRIBE = "unsubscribe", _("Unsubscribe link")
        SMS_STOP = "sms_stop", _("SMS STOP")
        MERGE = "merge", _("Member merge")
        SIGNUP = "signup", _("Sign-up")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="consent_events"
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    purpose = models.CharField(_("purpose"), max_length=20, choices=ConsentPurpose.choices)
    granted = models.BooleanField(
        _("granted"),
    )
    text = models.ForeignKey(ConsentText, verbose_name=_("text"), on_delete=models.PROTECT, null=True, blank=True)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("consent event")
        verbose_name_plural = _("consent events")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["member", "channel", "purpose", "-created_at", "-id"])]

    def __str__(self) -> str:
        state = gettext("consent given") if self.granted else gettext("consent withdrawn")
        return f"{self.member_id}: {self.get_channel_display()}, {self.get_purpose_display()}: {state}"


class Purchase(models.Model):
    # Indexed by (member, -purchased_at) below: a single-column index would double the writes for nothing.
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="purchases", db_index=False
    )
    source = models.CharField(
        _("source"), max_length=30, default="pos", help_text=_("The system the purchase came from.")
    )
    external_id = models.CharField(_("external id"), max_length=64)
    store = models.CharField(
        _("store or channel"), max_length=30, default="online", help_text=_("'online' or a store code.")
    )
    purchased_at = models.DateTimeField(_("purchased at"), db_index=True)
    amount = models.DecimalField(
        _("amount (PLN)"), max_digits=12, decimal_places=2, validators=[MinValueValidator(Decimal("0"))]
    )
    refunded_amount = models.DecimalField(
        _("refunded amount (PLN)"), max_digits=12, decimal_places=2, default=Decimal("0")
    )
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("purchase")
        verbose_name_plural = _("purchases")
        ordering = ["-purchased_at"]
        indexes = [models.Index(fields=["member", "-purchased_at"])]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="purchase_external_id_unique"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="purchase_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(refunded_amount__gte=0) & Q(refunded_amount__lte=models.F("amount")),
                name="purchase_refund_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source}:{self.external_id}"


class PurchaseLine(models.Model):
    purchase = models.ForeignKey(Purchase, verbose_name=_("purchase"), on_delete=models.CASCADE, related_name="lines")
    sku = models.CharField(_("SKU"), max_length=40)
    product_name = models.CharField(_("product name"), max_length=200, blank=True)
    category = models.CharField(_("category"), max_length=60, blank=True)
    quantity = models.DecimalField(_("quantity"), max_digits=10, decimal_places=3, default=Decimal("1"))
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)

    class Meta:
        verbose_name = _("purchase line")
        verbose_name_plural = _("purchase lines")
        # Without the LIKE index that db_index=True adds on PostgreSQL: nothing searches categories by prefix.
        indexes = [models.Index(fields=["category"], name="purchase_line_category")]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="purchase_line_amount_not_negative")]

    def __str__(self) -> str:
        return f"{self.sku} {TIMES}{plain(self.quantity)}"


class Refund(models.Model):
    purchase = models.ForeignKey(Purchase, verbose_name=_("purchase"), on_delete=models.PROTECT, related_name="refunds")
    external_id = models.CharField(_("external id"), max_length=64)
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    refunded_at = models.DateTimeField(_("refunded at"), default=timezone.now)
    reason = models.CharField(_("reason"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")
        constraints = [
            models.UniqueConstraint(fields=["purchase", "external_id"], name="refund_external_id_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.purchase} -{self.amount}"


class AccountToken(models.Model):
    """A one-time secret sent to a member: a code and a link to claim a membership, or a link to confirm an email.

    Only hashes are stored. A token is spent once (`used_at`), expires (`expires_at`) and, for codes, allows a few
    wrong tries (`attempts`), so a code cannot be guessed."""

    class Purpose(models.TextChoices):
        CLAIM = "claim", _("Claim a membership")
        VERIFY_EMAIL = "verify_email", _("Confirm an email address")

    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="account_tokens"
    )
    purpose = models.CharField(_("purpose"), max_length=20, choices=Purpose.choices)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    destination = models.CharField(_("sent to"), max_length=254)
    secret_hash = models.CharField(_("secret hash"), max_length=128)
    code_hash = models.CharField(_("code hash"), max_length=128, blank=True)
    attempts = models.PositiveSmallIntegerField(_("wrong attempts"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)

    class Meta:
        verbose_name = _("account token")
        verbose_name_plural = _("account tokens")
        indexes = [models.Index(fields=["member", "purpose", "-created_at"])]
        constraints = [
            models.UniqueConstraint(fields=["secret_hash"], name="account_token_secret_unique"),
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("created_at")), name="account_token_expires"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.purpose} {self.created_at:%Y-%m-%d %H:%M}"


class DataExport(models.Model):
    """A member's request for a copy of their data, written in the background when large (members.data_export)."""

    class Format(models.TextChoices):
        JSON = "json", "JSON"
        CSV = "csv", "CSV"

    class Status(models.TextChoices):
        PENDING = "pending", _("Being prepared")
        DONE = "done", _("Ready")
        FAILED = "failed", _("Failed")

    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="data_exports")
    format = models.CharField(_("format"), max_length=4, choices=Format.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    file = models.FileField(_("file"), upload_to="member_exports/", blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("data export")
        verbose_name_plural = _("data exports")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="pending") | Q(finished_at__isnull=False), name="data_export_finished_when_done"
            )
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.format} {self.status}"
