"""Campaigns: segments, message templates, campaigns with variants, deliveries, journeys and the SMS outbox."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from members.models import Channel, Member


class Segment(models.Model):
    """Who a campaign goes to: rules (dynamic) or an uploaded list of member numbers (static)."""

    class Kind(models.TextChoices):
        DYNAMIC = "dynamic", _("Rules")
        STATIC = "static", _("Uploaded list")

    name = models.CharField(pgettext_lazy("campaigns", "name"), max_length=120, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.DYNAMIC)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SegmentRule(models.Model):
    """One condition. Rules with the same group number must all hold (and); any group may hold (or)."""

    segment = models.ForeignKey(Segment, verbose_name=_("segment"), on_delete=models.CASCADE, related_name="rules")
    group = models.PositiveSmallIntegerField(
        _("group"), default=1, help_text=_("Rules in one group must all match; a member matching any group is in.")
    )
    kind = models.CharField(_("rule"), max_length=40)
    operator = models.CharField(_("operator"), max_length=20)
    value = models.CharField(_("value"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("rule")
        verbose_name_plural = _("rules")
        ordering = ["group", "id"]

    def __str__(self) -> str:
        """The rule as staff read it: "Zgoda na kanał: udzielona: e-mail"."""
        from . import rules  # rules reads these models

        try:
            rule = rules.kind(self.kind)
        except rules.RuleError:
            return f"{self.kind} {self.operator} {self.value}"
        value = dict(rule.value_choices()).get(self.value, self.value) if rule.value_choices else self.value
        operator = rules.OPERATOR_LABELS.get(self.operator, self.operator)
        return f"{rule.label}: {operator}: {value}"


class SegmentMember(models.Model):
    """A member of a static segment."""

    segment = models.ForeignKey(Segment, verbose_name=_("segment"), on_delete=models.CASCADE, related_name="listed")
    member = models.ForeignKey(Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = _("listed member")
        verbose_name_plural = _("listed members")
        constraints = [models.UniqueConstraint(fields=["segment", "member"], name="segment_member_unique")]

    def __str__(self) -> str:
        return f"{self.segment_id}:{self.member_id}"


class MessageTemplate(models.Model):
    """A message with personal fields ({{ first_name|friend }}); checked against the offered fields on save."""

    class Purpose(models.TextChoices):
        MARKETING = "marketing", _("Marketing")
        TRANSACTIONAL = "transactional", _("Transactional (service message)")

    name = models.CharField(pgettext_lazy("campaigns", "name"), max_length=120, unique=True)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    purpose = models.CharField(_("purpose"), max_length=15, choices=Purpose.choices, default=Purpose.MARKETING)
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    html = models.TextField(_("HTML body"), blank=True)
    text = models.TextField(_("text"), blank=True, help_text=_("The plain text of an email, or the SMS."))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Campaign(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        SENDING = "sending", _("Sending")
        PAUSED = "paused", _("Paused")
        SENT = "sent", _("Sent")
        CANCELLED = "cancelled", _("Cancelled")

    name = models.CharField(pgettext_lazy("campaigns", "name"), max_length=150)
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices, default=Channel.EMAIL)
    segment = models.ForeignKey(Segment, verbose_name=_("segment"), on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.DRAFT)
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True, help_text=_("Empty: send at once."))
    control_percent = models.PositiveSmallIntegerField(
        _("control group (%)"), default=0, help_text=_("Members held out to measure the campaign's effect.")
    )
    quiet_start = models.TimeField(
        _("quiet hours from"), null=True, blank=True, help_text=_("SMS only: no messages between these hours.")
    )
    quiet_end = models.TimeField(_("quiet hours until"), null=True, blank=True)
    cap_messages = models.PositiveSmallIntegerField(
        _("frequency cap: messages"), null=True, blank=True, help_text=_("At most this many marketing messages…")
    )
    cap_days = models.PositiveSmallIntegerField(_("frequency cap: days"), null=True, blank=True)
    attribution_days = models.PositiveSmallIntegerField(
        _("purchases counted for (days)"), default=7, help_text=_("Results count purchases this many days after.")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("created by"), on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    launched_at = models.DateTimeField(_("launched at"), null=True, blank=True)
    fanout_done = models.BooleanField(_("deliveries queued"), default=False, editable=False)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-id"]
        permissions = [("launch_campaign", "Can launch, pause, resume and cancel campaigns")]
        constraints = [
            models.CheckConstraint(condition=Q(control_percent__lte=90), name="campaign_control_percent_max"),
        ]

    def __str__(self) -> str:
        return self.name


class Variant(models.Model):
    """A version of the campaign's message; members are split between variants by weight."""

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, related_name="variants"
    )
    label = models.CharField(_("label"), max_length=10, default="A")
    template = models.ForeignKey(MessageTemplate, verbose_name=_("message"), on_delete=models.PROTECT)
    weight = models.PositiveSmallIntegerField(_("share (%)"), default=100)

    class Meta:
        verbose_name = _("variant")
        verbose_name_plural = _("variants")
        ordering = ["label"]
        constraints = [models.UniqueConstraint(fields=["campaign", "label"], name="variant_label_unique")]

    def __str__(self) -> str:
        return self.label


class Journey(models.Model):
    """An automatic message on an occasion: joining, birthday, expiring points, tier upgrade, win-back."""

    class Code(models.TextChoices):
        WELCOME = "welcome", _("Welcome after joining")
        BIRTHDAY = "birthday", _("Birthday")
        POINTS_EXPIRING = "points_expiring", _("Points expiring within 30 days")
        TIER_UPGRADE = "tier_upgrade", _("Tier upgrade")
        WIN_BACK = "win_back", _("Win-back after days without a purchase")
        VOUCHER_ISSUED = "voucher_issued", _("Voucher issued (service message)")

    code = models.CharField(_("journey"), max_length=20, choices=Code.choices, unique=True)
    enabled = models.BooleanField(_("switched on"), default=False)
    template = models.ForeignKey(
        MessageTemplate, verbose_name=_("message"), on_delete=models.PROTECT, null=True, blank=True
    )
    days = models.PositiveSmallIntegerField(
        _("days"), default=90, help_text=_("Win-back: days without a purchase. Expiring points: days ahead.")
    )

    class Meta:
        verbose_name = _("journey")
        verbose_name_plural = _("journeys")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.get_code_display()


class Delivery(models.Model):
    """One message to one member on one channel; created before sending, claimed by one sender at a time."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")
        SKIPPED = "skipped", _("Skipped")
        CONTROL = "control", _("Held out (control group)")
        CANCELLED = "cancelled", _("Cancelled")

    campaign = models.ForeignKey(
        Campaign, verbose_name=_("campaign"), on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    variant = models.ForeignKey(
        Variant, verbose_name=_("variant"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    journey = models.ForeignKey(
        Journey, verbose_name=_("journey"), on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries"
    )
    template = models.ForeignKey(
        MessageTemplate, verbose_name=_("message"), on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    occasion = models.CharField(_("occasion"), max_length=60, blank=True)
    member = models.ForeignKey(
        Member, verbose_name=_("member"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    purpose = models.CharField(_("purpose"), max_length=15, default=MessageTemplate.Purpose.MARKETING)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    context = models.JSONField(_("extra fields"), default=dict, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    lease_until = models.DateTimeField(_("leased until"), null=True, blank=True)
    claim = models.CharField(_("worker claim"), max_length=32, blank=True)
    error = models.CharField(_("reason"), max_length=300, blank=True)
    provider_id = models.CharField(_("provider's id"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    opened_at = models.DateTimeField(_("opened at"), null=True, blank=True)
    clicked_at = models.DateTimeField(_("clicked at"), null=True, blank=True)
    unsubscribed_at = models.DateTimeField(_("unsubscribed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["campaign", "status"], name="delivery_campaign_status"),
            models.Index(fields=["member", "-created_at"], name="delivery_member_created"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "member", "channel"],
                condition=Q(campaign__isnull=False),
                name="delivery_once_per_campaign",
            ),
            models.UniqueConstraint(
                fields=["journey", "member", "occasion"],
                condition=Q(journey__isnull=False),
                name="delivery_once_per_journey_occasion",
            ),
            models.CheckConstraint(
                condition=~Q(status="sending") | Q(lease_until__isnull=False), name="delivery_sending_has_lease"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}, {self.member_id}: {self.get_status_display()}"


class SmsOutbox(models.Model):
    """SMS the demo gateway "sent": staff read them in the admin instead of phones receiving them."""

    phone = models.CharField(_("phone"), max_length=16)
    text = models.TextField(_("text"))
    delivery = models.OneToOneField(
        Delivery, verbose_name=_("delivery"), on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)

    class Meta:
        verbose_name = _("SMS outbox message")
        verbose_name_plural = _("SMS outbox")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.phone}: {self.text[:30]}"
