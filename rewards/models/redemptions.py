"""Redemptions and their vouchers (rewards.redemption writes them), and the till's voucher look-ups."""

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import Member

from .catalog import Reward
from .ledger import LedgerEntry
from .partners import Partner


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
