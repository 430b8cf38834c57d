"""The ledger: a member's account (stored balances and tier), the append-only entries, the lots that
expire, the reconciliation runs and the tier history."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from members.models import Member, Purchase

from .programme import Tier


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
    # What happened, as a code and its parameters (rewards.reasons renders it in the reader's language); `reason`
    # holds only a sentence a person typed (code "note"), or the English sentence of an entry posted before codes.
    reason = models.CharField(_("reason"), max_length=255, blank=True, default="", db_default="")
    reason_code = models.CharField(_("reason code"), max_length=30, blank=True, default="", db_default="")
    reason_params = models.JSONField(
        _("reason parameters"), default=dict, db_default=models.Value({}, models.JSONField()), blank=True
    )
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
            # What the lots' foreign key (entry_id, member_id) refers to (PointsLot.member).
            models.UniqueConstraint(fields=["id", "member"], name="ledger_entry_member"),
        ]

    def __str__(self) -> str:
        return f"{self.member_id} {self.kind} {self.points:+d}"


class PointsLot(models.Model):
    """Spendable points from one credit, consumed first-in-first-out and expired when their time comes.

    Lots are the consumption index behind the ledger, not the ledger: `remaining` changes as lots are
    spent, and the sum of a member's remaining equals their available balance.
    """

    # A lot's member is its entry's. On PostgreSQL one foreign key over both columns says so, (entry_id, member_id)
    # to the ledger's (id, member_id) (migration 0017, "lot_entry_member"), in place of one to each table: a posted
    # purchase pays one check at commit where it paid two, and a lot cannot name another member than its entry.
    # The entry's own foreign key protects the member, so deleting a member does not look at lots; without a
    # single-column index, every read of a member's lots goes through lot_open (open lots) or the entry.
    member = models.ForeignKey(
        Member,
        verbose_name=_("member"),
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    entry = models.OneToOneField(
        LedgerEntry, verbose_name=_("ledger entry"), on_delete=models.PROTECT, related_name="lot", db_constraint=False
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


class TierChange(models.Model):
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.PROTECT, related_name="tier_changes")
    from_tier = models.ForeignKey(
        Tier, verbose_name=_("from tier"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    to_tier = models.ForeignKey(
        Tier, verbose_name=_("to tier"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reason = models.CharField(
        _("reason"), max_length=200, blank=True, default="", db_default=""
    )  # entries before codes: a sentence
    reason_code = models.CharField(_("reason code"), max_length=30, blank=True, default="", db_default="")
    reason_params = models.JSONField(
        _("reason parameters"), default=dict, db_default=models.Value({}, models.JSONField()), blank=True
    )
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)

    class Meta:
        verbose_name = _("tier change")
        verbose_name_plural = _("tier changes")
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"{self.member_id}: {self.from_tier} -> {self.to_tier}"
