"""Analytics: the settings staff set (point value), dashboard snapshots and per-member RFM/CLV scores."""

from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class AnalyticsSettings(models.Model):
    """One row (pk=1): what the figures need that no other app records."""

    point_value_pln = models.DecimalField(
        _("value of one point (PLN)"),
        max_digits=8,
        decimal_places=4,
        default=Decimal("0.01"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("What one point costs the programme when redeemed; the points liability is counted with it."),
    )
    active_days = models.PositiveIntegerField(
        _("active window (days)"),
        default=90,
        validators=[MinValueValidator(1)],
        help_text=_("A member with a purchase within this many days before the end of a period counts as active."),
    )
    clv_horizon_months = models.PositiveIntegerField(
        _("CLV horizon (months)"),
        default=12,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
        help_text=_("How far ahead the predicted customer lifetime value looks."),
    )

    class Meta:
        verbose_name = _("analytics settings")
        verbose_name_plural = _("analytics settings")
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="analytics_settings_singleton"),
            models.CheckConstraint(condition=Q(point_value_pln__gte=0), name="analytics_point_value_not_negative"),
            models.CheckConstraint(condition=Q(active_days__gte=1), name="analytics_active_days_positive"),
        ]
        permissions = [("view_dashboard", "Can see the programme dashboard and its exports")]

    def __str__(self) -> str:
        return str(_("analytics settings"))


class DashboardSnapshot(models.Model):
    """The dashboard's figures for one range and store, computed by a task and shown as stored."""

    date_from = models.DateField(_("from"))
    date_to = models.DateField(_("to"), help_text=_("Inclusive."))
    store = models.CharField(_("store"), max_length=30, blank=True, help_text=_("Empty means every store."))
    segment = models.PositiveIntegerField(
        _("segment"), default=0, help_text=_("The campaigns segment the members come from; 0 means every member.")
    )
    computed_at = models.DateTimeField(_("computed at"))
    duration_ms = models.PositiveIntegerField(_("took (ms)"), default=0)
    data = models.JSONField(_("figures"), default=dict)

    class Meta:
        verbose_name = _("dashboard snapshot")
        verbose_name_plural = _("programme dashboard")
        ordering = ["-computed_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["date_from", "date_to", "store", "segment"], name="dashboard_snapshot_range_unique"
            ),
            models.CheckConstraint(condition=Q(date_to__gte=models.F("date_from")), name="dashboard_snapshot_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.date_from}..{self.date_to} {self.store or '*'}"


class Segment(models.TextChoices):
    CHAMPIONS = "champions", _("Champions")
    LOYAL = "loyal", _("Loyal")
    PROMISING = "promising", _("Promising")
    NEW = "new", pgettext_lazy("rfm segment", "New")
    AT_RISK = "at_risk", _("At risk")
    CANT_LOSE = "cant_lose", _("Can't lose")
    HIBERNATING = "hibernating", _("Hibernating")
    LOST = "lost", _("Lost")


class MemberScore(models.Model):
    """A member's RFM scores, segment and CLV figures for one month (the month's latest computation)."""

    month = models.DateField(_("month"), help_text=_("The first day of the month the scores belong to."))
    member = models.ForeignKey(
        "members.Member",
        verbose_name=_("member"),
        on_delete=models.CASCADE,
        related_name="analytics_scores",
        db_index=False,
    )
    as_of = models.DateField(_("as of"))
    recency_days = models.PositiveIntegerField(_("days since last purchase"))
    orders = models.PositiveIntegerField(_("purchases"))
    monetary = models.DecimalField(_("spend (PLN)"), max_digits=14, decimal_places=2)
    r_score = models.PositiveSmallIntegerField("R", validators=[MinValueValidator(1), MaxValueValidator(5)])
    f_score = models.PositiveSmallIntegerField("F", validators=[MinValueValidator(1), MaxValueValidator(5)])
    m_score = models.PositiveSmallIntegerField("M", validators=[MinValueValidator(1), MaxValueValidator(5)])
    segment = models.CharField(_("segment"), max_length=12, choices=Segment.choices)
    probability_alive = models.FloatField(_("probability alive"), null=True, blank=True)
    churn_risk = models.FloatField(_("churn risk"), null=True, blank=True)
    predicted_purchases = models.FloatField(_("predicted purchases"), null=True, blank=True)
    predicted_clv = models.DecimalField(
        _("predicted CLV (PLN)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("member score")
        verbose_name_plural = _("member scores")
        constraints = [
            models.UniqueConstraint(fields=["member", "month"], name="member_score_month_unique"),
            models.CheckConstraint(
                condition=Q(r_score__range=(1, 5)) & Q(f_score__range=(1, 5)) & Q(m_score__range=(1, 5)),
                name="member_score_scores_1_to_5",
            ),
            models.CheckConstraint(
                condition=Q(churn_risk__isnull=True) | Q(churn_risk__range=(0, 1)), name="member_score_risk_0_1"
            ),
        ]
        indexes = [models.Index(fields=["month", "segment"], name="member_score_month_segment")]

    def __str__(self) -> str:
        return f"{self.member_id} {self.month:%Y-%m} {self.segment}"
