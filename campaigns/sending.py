"""The sending pipeline: fan a campaign out into delivery rows, claim and send them in batches, exactly once.

Every message is a `Delivery` row, unique per (campaign, member, channel), written before anything is sent.
A sender claims rows by moving them from `queued` to `sending` with a lease (`SELECT ... FOR UPDATE SKIP
LOCKED`, then an UPDATE in the same transaction), so a task delivered twice, or run by two workers at once,
finds the rows already claimed and sends nothing. Consent and the frequency cap are checked again at the claim.
Accepted emails are marked `sent` a small group at a time right after the SMTP server accepts them (SMS one
by one). A sender that dies leaves its unsent claims in `sending`; when the lease ends the sweep
(`campaigns_sweep`, run by beat every minute) claims them again. See docs/campaigns.md for the one window this
leaves (accepted, not yet marked).
"""

import logging
import smtplib
import time
import uuid
import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from email.utils import parseaddr

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import make_msgid, sanitize_address
from django.core.mail.utils import DNS_NAME
from django.db import connection, transaction
from django.db.models import Count, Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from members.models import Channel, Member
from members.selectors import members_with_consent

from . import conf
from .mime import message_bytes
from .models import Campaign, Delivery, MessageTemplate, Variant
from .rendering import RenderedTemplate, rendered_template
from .selectors import in_ids, segment_members
from .sms import SmsError, sms_backend
from .smtp_pipeline import PipelinedSmtp

logger = logging.getLogger(__name__)

PENDING = (Delivery.Status.QUEUED, Delivery.Status.SENDING)
UNSUBSCRIBE_SALT = "campaigns.unsubscribe"
TRACKING_SALT = "campaigns.tracking"

# Set by tasks.py: how a list of delivery ids is handed to a sender (a Celery task in production).
enqueue_send: Callable[[list[int]], None] = lambda ids: deliveries_send(delivery_ids=ids)  # noqa: E731


def _bucket(campaign_id: int, member_id: int, salt: str) -> int:
    """A stable number 0..9999 per member and campaign: the same split on every run of the fan-out."""
    return zlib.crc32(f"{salt}:{campaign_id}:{member_id}".encode()) % 10000


def campaign_audience(*, campaign: Campaign):
    """Members the campaign is for at fan-out: the segment, with consent and an address for the channel, within
    the frequency cap. Consent is checked again when each message is sent."""
    members = segment_members(segment=campaign.segment).filter(
        pk__in=members_with_consent(channel=campaign.channel).values("pk")
    )
    members = members.exclude(email="") if campaign.channel == Channel.EMAIL else members.exclude(phone="")
    if campaign.cap_messages and campaign.cap_days:
        since = timezone.now() - timedelta(days=campaign.cap_days)
        capped = (
            Delivery.objects.filter(
                purpose=MessageTemplate.Purpose.MARKETING,
                created_at__gte=since,
                status__in=[Delivery.Status.SENT, *PENDING],
            )
            .exclude(campaign=campaign)
            .values("member_id")
            .annotate(n=Count("id"))
            .filter(n__gte=campaign.cap_messages)
            .values("member_id")
        )
        members = members.exclude(pk__in=capped)
    return members


def _assign(campaign: Campaign, variants: Sequence[Variant], member_id: int) -> Variant | None:
    """The member's variant, or None for the control group."""
    if _bucket(campaign.pk, member_id, "control") < campaign.control_percent * 100:
        return None
    point = _bucket(campaign.pk, member_id, "variant") * sum(v.weight for v in variants) // 10000
    for variant in variants:
        if point < variant.weight:
            return variant
        point -= variant.weight
    return variants[-1]


def campaign_fanout(*, campaign_id: int) -> int:
    """Write the campaign's delivery rows in batches and hand each batch to a sender at once.

    Safe to run again (a sweep after a crash): rows already there are kept (unique per campaign, member,
    channel) and the split is the same, so nobody changes variant or group. Returns the rows written."""
    campaign = Campaign.objects.get(pk=campaign_id)
    if campaign.status not in (Campaign.Status.SENDING, Campaign.Status.PAUSED):
        return 0
    variants = list(campaign.variants.order_by("label"))
    member_ids = list(campaign_audience(campaign=campaign).order_by("pk").values_list("pk", flat=True))
    size = conf.batch_size()
    written = 0
    now = timezone.now()
    for start in range(0, len(member_ids), size):
        chunk = member_ids[start : start + size]
        _deliveries_insert(campaign, [(member_id, _assign(campaign, variants, member_id)) for member_id in chunk], now)
        written += len(chunk)
        ids = list(
            Delivery.objects.filter(
                campaign=campaign, member_id__gte=chunk[0], member_id__lte=chunk[-1], status=Delivery.Status.QUEUED
            ).values_list("pk", flat=True)
        )
        if ids and campaign.status == Campaign.Status.SENDING:
            enqueue_send(ids)
    Campaign.objects.filter(pk=campaign.pk).update(fanout_done=True)
    campaign_finish_if_done(campaign_id=campaign.pk)
    return written


_INSERT_SQL = (
    f"INSERT INTO {Delivery._meta.db_table} (campaign_id, variant_id, template_id, member_id, channel, purpose, "  # noqa: S608
    "status, created_at, occasion, context, attempts, claim, error, provider_id) "
    "SELECT %s, v.variant_id, v.template_id, v.member_id, %s, %s, v.status, %s, '', '{}'::jsonb, 0, '', '', '' "
    "FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::text[]) "
    "AS v(member_id, variant_id, template_id, status) "
    "ON CONFLICT DO NOTHING"
)


def _deliveries_insert(campaign: Campaign, rows: list[tuple[int, Variant | None]], now: datetime) -> None:
    """The fan-out's rows for (member, variant or None for the control group); rows already there are kept. On
    PostgreSQL one INSERT from arrays (a model instance per row was most of the fan-out's CPU)."""
    status = {True: Delivery.Status.QUEUED, False: Delivery.Status.CONTROL}
    if connection.vendor != "postgresql":
        Delivery.objects.bulk_create(
            [
                Delivery(
                    campaign=campaign,
                    variant=variant,
                    template_id=variant.template_id if variant else None,
                    member_id=member_id,
                    channel=campaign.channel,
                    purpose=MessageTemplate.Purpose.MARKETING,
                    status=status[variant is not None],
                    created_at=now,
                )
                for member_id, variant in rows
            ],
            ignore_conflicts=True,
        )
        return
    params = [
        campaign.pk,
        campaign.channel,
        MessageTemplate.Purpose.MARKETING.value,
        connection.ops.adapt_datetimefield_value(now),
        [member_id for member_id, _ in rows],
        [variant.pk if variant else None for _, variant in rows],
        [variant.template_id if variant else None for _, variant in rows],
        [str(status[variant is not None]) for _, variant in rows],
    ]
    with connection.cursor() as cursor:
        cursor.execute(_INSERT_SQL, params)


def campaign_finish_if_done(*, campaign_id: int) -> bool:
    """Mark a sending campaign sent once its fan-out is done and no delivery is queued or sending."""
    pending = Delivery.objects.filter(campaign=OuterRef("pk"), status__in=PENDING)
    return bool(
        Campaign.objects.filter(pk=campaign_id, status=Campaign.Status.SENDING, fanout_done=True)
        .exclude(Exists(pending))
        .update(status=Campaign.Status.SENT, finished_at=timezone.now())
    )


# --- claiming -----------------------------------------------------------------------------------------------


def _claimable(now: datetime) -> Q:
    queued = Q(status=Delivery.Status.QUEUED) & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
    expired = Q(status=Delivery.Status.SENDING, lease_until__lt=now)
    active = Q(campaign__isnull=True) | Q(campaign__status=Campaign.Status.SENDING)
    return (queued | expired) & active


def deliveries_claim(*, delivery_ids: Sequence[int], token: str) -> list[int]:
    """Move the claimable ones of these deliveries to `sending` under `token`; returns their ids.

    Rows another sender holds (locked right now, or claimed with a lease that has not ended) are left alone,
    so two runs of the same batch at once split nothing and send nothing twice. Rows over their campaign's
    frequency cap now are skipped (`_over_frequency_cap`)."""
    return _claim(delivery_ids, token)[0]


def _claim(delivery_ids: Sequence[int], token: str) -> tuple[list[int], int]:
    """The claimed ids and how many were skipped for the frequency cap, in one transaction."""
    now = timezone.now()
    skipped = 0
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(_claimable(now), in_ids("pk", delivery_ids))
            .values_list("pk", flat=True)
        )
        capped = _over_frequency_cap(ids, now) if ids else set()
        if capped:
            skipped = Delivery.objects.filter(pk__in=capped).update(
                status=Delivery.Status.SKIPPED, error="frequency cap at send time", lease_until=None
            )
            ids = [pk for pk in ids if pk not in capped]
        if ids:
            Delivery.objects.filter(in_ids("pk", ids)).update(
                status=Delivery.Status.SENDING,
                claim=token,
                lease_until=now + timedelta(seconds=conf.lease_seconds()),
                attempts=F("attempts") + 1,
            )
    return ids, skipped


def _over_frequency_cap(ids: list[int], now: datetime) -> set[int]:
    """Of these deliveries (locked by the claim), those whose campaign has a frequency cap that the member has
    reached by now: the fan-out checked the cap, but two campaigns fanned out at the same moment both found the
    member under it. Counted, per member, like the fan-out: other marketing deliveries within the cap's days
    that were sent or are being sent, and queued ones with a smaller id. The id decides between two queued
    rows, so two claims racing for the same member agree on which message goes (the older one); a claimed row
    is only ever `sending` after its own check passed. One query per capped campaign in the batch, none for
    campaigns without a cap."""
    caps = list(
        Campaign.objects.filter(
            pk__in=Delivery.objects.filter(in_ids("pk", ids)).values("campaign_id"), cap_messages__gt=0, cap_days__gt=0
        ).values_list("pk", "cap_messages", "cap_days")
    )
    capped: set[int] = set()
    for campaign_id, cap_messages, cap_days in caps:
        others = (
            Delivery.objects.filter(
                member_id=OuterRef("member_id"),
                purpose=MessageTemplate.Purpose.MARKETING,
                created_at__gte=now - timedelta(days=cap_days),
            )
            .exclude(campaign_id=campaign_id)
            .filter(
                Q(status__in=[Delivery.Status.SENT, Delivery.Status.SENDING])
                | Q(status=Delivery.Status.QUEUED, pk__lt=OuterRef("pk"))
            )
            .order_by()
            .values("member_id")
            .annotate(n=Count("pk"))
            .values("n")
        )
        capped |= set(
            Delivery.objects.filter(in_ids("pk", ids), campaign_id=campaign_id)
            .annotate(others=Subquery(others))
            .filter(others__gte=cap_messages)
            .values_list("pk", flat=True)
        )
    return capped


_MARK_SENT_SQL = (
    f"UPDATE {Delivery._meta.db_table} SET status = 'sent', sent_at = %s, provider_id = %s, error = '' "  # noqa: S608
    "WHERE id = %s AND claim = %s AND status = 'sending'"
)


def _mark_sent(delivery_id: int, token: str, provider_id: str) -> None:
    """Record the provider's acceptance at once: one statement, its own commit, one round trip.

    On PostgreSQL that commit does not wait for the WAL flush (`synchronous_commit` off for this transaction
    only, set in the same statement): once the server has it, a worker killed a moment later cannot lose it;
    only a crash of the database server itself could forget the last fraction of a second of these marks (sent
    again after its recovery). CAMPAIGN_SENT_MARK_SYNCHRONOUS=1 waits for the flush too (half the speed here)."""
    params = [connection.ops.adapt_datetimefield_value(timezone.now()), provider_id[:200], delivery_id, token]
    sql = _MARK_SENT_SQL
    if connection.vendor == "postgresql" and not conf.sent_mark_synchronous():
        # set_config(..., is_local => true) lasts for this statement's own transaction (autocommit).
        sql += " AND set_config('synchronous_commit', 'off', true) IS NOT NULL"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


class _SentMarks:
    """Accepted messages recorded `limit` at a time: one UPDATE (its own commit, not waiting for the WAL flush
    like `_mark_sent`) for a group instead of one per message. A group is written when it is full, when its
    oldest message was accepted `max_age` seconds ago, when the SMTP server makes the sender wait (the
    pipelined client's `on_wait`) and at the end of the batch. A worker killed between an acceptance and the
    write of its group leaves up to `limit` accepted messages in `sending`: sent again after the lease (the
    window docs/campaigns.md describes)."""

    def __init__(self, token: str, *, limit: int, max_age: float = 0.1):
        self.token = token
        self.limit = max(limit, 1)
        self.max_age = max_age
        self.ids: list[int] = []
        self.provider_ids: list[str] = []
        self.oldest = 0.0

    def add(self, delivery_id: int, provider_id: str) -> None:
        if not self.ids:
            self.oldest = time.monotonic()
        self.ids.append(delivery_id)
        self.provider_ids.append(provider_id[:200])
        if len(self.ids) >= self.limit or time.monotonic() - self.oldest >= self.max_age:
            self.flush()

    def flush(self) -> None:
        if not self.ids:
            return
        ids, provider_ids = self.ids, self.provider_ids
        self.ids, self.provider_ids = [], []
        if len(ids) == 1 or connection.vendor != "postgresql":
            for delivery_id, provider_id in zip(ids, provider_ids, strict=True):
                _mark_sent(delivery_id, self.token, provider_id)
            return
        sql = _MARK_SENT_MANY_SQL
        if not conf.sent_mark_synchronous():
            sql += " AND set_config('synchronous_commit', 'off', true) IS NOT NULL"
        params = [connection.ops.adapt_datetimefield_value(timezone.now()), ids, provider_ids, self.token]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)


_MARK_SENT_MANY_SQL = (
    f"UPDATE {Delivery._meta.db_table} AS d SET status = 'sent', sent_at = %s, provider_id = v.provider_id, "  # noqa: S608
    "error = '' FROM unnest(%s::bigint[], %s::text[]) AS v(id, provider_id) "
    "WHERE d.id = v.id AND d.claim = %s AND d.status = 'sending'"
)


def _retry_delay(attempts: int) -> float:
    return conf.retry_base_seconds() * (2 ** max(attempts - 1, 0))


def _mark_failed_attempt(deliveries: Sequence[Delivery], token: str, reason: str, *, permanent: bool = False) -> float:
    """Back to `queued` with a later next attempt, or `failed` with the reason after the last attempt.
    Returns the shortest delay until a retry (0 when none is due)."""
    now = timezone.now()
    soonest = 0.0
    for delivery in deliveries:
        if permanent or delivery.attempts >= conf.max_attempts():
            changes = {"status": Delivery.Status.FAILED, "error": reason[:300], "lease_until": None}
        else:
            delay = _retry_delay(delivery.attempts)
            soonest = delay if not soonest else min(soonest, delay)
            changes = {
                "status": Delivery.Status.QUEUED,
                "error": reason[:300],
                "next_attempt_at": now + timedelta(seconds=delay),
                "lease_until": None,
            }
        Delivery.objects.filter(pk=delivery.pk, claim=token, status=Delivery.Status.SENDING).update(**changes)
    return soonest


# --- links --------------------------------------------------------------------------------------------------


def unsubscribe_token(delivery: Delivery) -> str:
    return signing.dumps([delivery.member_id, delivery.channel, delivery.pk], salt=UNSUBSCRIBE_SALT, compress=True)


def tracking_token(delivery_id: int) -> str:
    return signing.dumps(delivery_id, salt=TRACKING_SALT)


# --- sending ------------------------------------------------------------------------------------------------


def deliveries_send(*, delivery_ids: Sequence[int]) -> dict:
    """Claim, re-check consent, render and send a batch. Returns counts and `retry_in` (seconds, 0 for none):
    the caller schedules the batch again then (the sweep does it if the caller dies first)."""
    quiet = quiet_hours_delay(delivery_ids=delivery_ids)
    if quiet:
        return {"claimed": 0, "sent": 0, "skipped": 0, "failed": 0, "retry_in": quiet}
    token = uuid.uuid4().hex
    claimed, capped = _claim(delivery_ids, token)
    result = {"claimed": len(claimed), "sent": 0, "skipped": capped, "failed": 0, "retry_in": 0.0}
    if not claimed:
        if capped:
            for campaign_id in set(
                Delivery.objects.filter(in_ids("pk", delivery_ids), campaign__isnull=False).values_list(
                    "campaign_id", flat=True
                )
            ):
                campaign_finish_if_done(campaign_id=campaign_id)
        return result
    deliveries = _claimed_deliveries(claimed, token)
    by_channel: dict[str, list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        by_channel[delivery.channel].append(delivery)
    for channel, group in by_channel.items():
        group = _with_consent(group, channel, token, result)
        if not group:
            continue
        send = _send_emails if channel == Channel.EMAIL else _send_sms
        retry = send(group, token, result)
        if retry:
            result["retry_in"] = retry if not result["retry_in"] else min(result["retry_in"], retry)
    for campaign_id in {d.campaign_id for d in deliveries if d.campaign_id}:
        campaign_finish_if_done(campaign_id=campaign_id)
    return result


def _claimed_deliveries(claimed: list[int], token: str) -> list[Delivery]:
    """The claimed rows with only what sending reads (model instances are most of a batch's Python time), the
    member's fields joined, each template loaded once and shared."""
    deliveries = list(
        Delivery.objects.filter(in_ids("pk", claimed), claim=token)
        .select_related("member")
        .only(*_SEND_FIELDS)
        .order_by("pk")
    )
    templates = MessageTemplate.objects.in_bulk({d.template_id for d in deliveries if d.template_id is not None})
    for delivery in deliveries:
        delivery.template = templates.get(delivery.template_id)
    return deliveries


_SEND_FIELDS = (
    "id",
    "member_id",
    "template_id",
    "campaign_id",
    "channel",
    "purpose",
    "context",
    "attempts",
    "member__id",
    "member__email",
    "member__phone",
    "member__status",
    "member__first_name",
)


def quiet_hours_delay(*, delivery_ids: Sequence[int], now: datetime | None = None) -> float:
    """Seconds until the quiet hours (Europe/Warsaw, SMS campaigns) of these deliveries end; 0 outside them."""
    now = timezone.localtime(now or timezone.now())
    windows = set(
        Campaign.objects.filter(
            pk__in=Delivery.objects.filter(in_ids("pk", delivery_ids)).values("campaign_id"),
            channel=Channel.SMS,
            quiet_start__isnull=False,
            quiet_end__isnull=False,
        ).values_list("quiet_start", "quiet_end")
    )
    delay = 0.0
    for start, end in windows:
        current = now.time()
        inside = start <= current < end if start < end else (current >= start or current < end)
        if inside:
            ends = now.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
            if ends <= now:
                ends += timedelta(days=1)
            delay = max(delay, (ends - now).total_seconds())
    return delay


def _with_consent(deliveries: list[Delivery], channel: str, token: str, result: dict) -> list[Delivery]:
    """Skip (with the reason) those who may not get the message now: consent withdrawn, no address, not active."""
    member_ids = [d.member_id for d in deliveries]
    consenting = set(
        members_with_consent(channel=channel).filter(in_ids("pk", member_ids)).values_list("pk", flat=True)
    )
    keep, skip = [], defaultdict(list)
    for delivery in deliveries:
        member = delivery.member
        address = member.email if channel == Channel.EMAIL else member.phone
        if member.status != Member.Status.ACTIVE:
            skip["member not active"].append(delivery.pk)
        elif not address:
            skip["no address for the channel"].append(delivery.pk)
        elif delivery.purpose == MessageTemplate.Purpose.MARKETING and delivery.member_id not in consenting:
            skip["no consent at send time"].append(delivery.pk)
        elif delivery.template is None:
            skip["no message"].append(delivery.pk)
        else:
            keep.append(delivery)
    for reason, ids in skip.items():
        result["skipped"] += Delivery.objects.filter(pk__in=ids, claim=token).update(
            status=Delivery.Status.SKIPPED, error=reason, lease_until=None
        )
    return keep


def _tracking_allowed(deliveries: list[Delivery]) -> set[int]:
    member_ids = [d.member_id for d in deliveries]
    return set(
        members_with_consent(channel=Channel.EMAIL, purpose="profiling")
        .filter(in_ids("pk", member_ids))
        .values_list("pk", flat=True)
    )


def _email_parts(
    delivery: Delivery, values: dict, tracked: bool, template: RenderedTemplate | None = None
) -> tuple[str, str, str, dict[str, str]]:
    """Subject, text, HTML and headers of one recipient's email."""
    template = template or rendered_template(delivery.template)
    values = dict(values)
    values.update(delivery.context or {})
    headers = {"Message-ID": make_msgid(domain=DNS_NAME)}
    if delivery.purpose == MessageTemplate.Purpose.MARKETING:
        unsubscribe = f"{conf.site_url()}/unsubscribe/{unsubscribe_token(delivery)}/"
        values["unsubscribe_url"] = unsubscribe
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if tracked:
        values["track_base"] = f"{conf.site_url()}/c/{tracking_token(delivery.pk)}"
    html = (template.html_tracked if tracked else template.html).render(values, escape=True)
    subject = " ".join(template.subject.render(values, escape=False).split())  # no line breaks in a header
    return subject, template.text.render(values, escape=False), html, headers


class _Renderer:
    """One batch's messages: each template looked up once, then per message the substitutions and the bytes."""

    def __init__(self):
        self.templates: dict[int, RenderedTemplate] = {}

    def message(self, sender: "_Sender", delivery: Delivery, values: dict, tracked: bool) -> tuple[bytes, str]:
        template = self.templates.get(delivery.template_id)
        if template is None:
            template = self.templates[delivery.template_id] = rendered_template(delivery.template)
        subject, text, html, headers = _email_parts(delivery, values, tracked, template)
        raw = message_bytes(
            sender=sender.from_header, to=delivery.member.email, subject=subject, text=text, html=html, headers=headers
        )
        return raw, headers["Message-ID"]


class _Sender:
    """The batch's connection. `fast`: Django's SMTP backend, whose smtplib connection `_send_smtp` pipelines raw
    bytes over; otherwise `send` hands an EmailMultiAlternatives to the backend (e.g. anymail)."""

    def __init__(self, connection):
        self.connection = connection
        self.fast = isinstance(connection, SmtpBackend)
        self.from_email = settings.DEFAULT_FROM_EMAIL
        self.envelope_from = parseaddr(self.from_email)[1]
        self.from_header = sanitize_address(self.from_email, "utf-8")

    def send(self, to: str, subject: str, text: str, html: str, headers: dict[str, str]) -> None:
        message = EmailMultiAlternatives(
            subject=subject, body=text, to=[to], headers=headers, connection=self.connection
        )
        message.attach_alternative(html, "text/html")
        if not self.connection.send_messages([message]):
            raise smtplib.SMTPException("the backend did not send the message")


def _personal(deliveries: list[Delivery]) -> dict[int, dict]:
    from .personal import personal_values

    fields: set[str] = set()
    for delivery in deliveries:
        fields |= rendered_template(delivery.template).fields
    return personal_values([d.member for d in deliveries], fields)


def _send_emails(deliveries: list[Delivery], token: str, result: dict) -> float:
    values = _personal(deliveries)
    tracked = _tracking_allowed(deliveries)
    connection = get_connection()
    try:
        connection.open()
    except (OSError, smtplib.SMTPException) as error:
        result["failed"] += len(deliveries)
        return _mark_failed_attempt(deliveries, token, f"SMTP connection: {error}")
    sender = _Sender(connection)
    marks = _SentMarks(token, limit=conf.sent_mark_group() if sender.fast else 1)
    try:
        if sender.fast:
            return _send_smtp(sender, deliveries, values, tracked, token, result, marks)
        for index, delivery in enumerate(deliveries):
            subject, text, html, headers = _email_parts(
                delivery, values.get(delivery.member_id, {}), delivery.member_id in tracked
            )
            try:
                sender.send(delivery.member.email, subject, text, html, headers)
            except smtplib.SMTPRecipientsRefused as error:
                result["failed"] += 1
                _mark_failed_attempt([delivery], token, f"recipient refused: {error}", permanent=True)
                continue
            except (OSError, smtplib.SMTPException) as error:
                # The connection is gone or the server is failing: this and the rest wait for a retry.
                rest = deliveries[index:]
                result["failed"] += len(rest)
                return _mark_failed_attempt(rest, token, f"SMTP: {error}")
            # Accepted by the server: record it at once, in its own commit (the window docs/campaigns.md names).
            marks.add(delivery.pk, headers["Message-ID"])
            result["sent"] += 1
        return 0.0
    finally:
        marks.flush()
        try:
            connection.close()
        except Exception:
            logger.debug("closing the SMTP connection failed", exc_info=True)


def _send_smtp(
    sender: "_Sender",
    deliveries: list[Delivery],
    values: dict,
    tracked: set[int],
    token: str,
    result: dict,
    marks: "_SentMarks",
) -> float:
    """The fast path: MIME bytes written here, pipelined over Django's SMTP connection (campaigns/smtp_pipeline),
    each accepted message recorded in the next group of marks (flushed at once when the server makes us wait)."""
    client = None
    message_ids: dict[int, str] = {}
    by_pk = {delivery.pk: delivery for delivery in deliveries}
    renderer = _Renderer()
    index = 0

    def settle(outcomes) -> str | None:
        """Record outcomes; returns the reason to stop (a temporary failure) or None."""
        stop = None
        for outcome in outcomes:
            message_id = message_ids.pop(outcome.key, "")
            if outcome.accepted:
                marks.add(outcome.key, message_id)
                result["sent"] += 1
            elif outcome.stage in ("mail", "rcpt") and outcome.code >= 500:
                result["failed"] += 1
                _mark_failed_attempt(
                    [by_pk[outcome.key]], token, f"recipient refused: {outcome.code} {outcome.text}", permanent=True
                )
            else:
                stop = stop or (outcome.key, f"SMTP: {outcome.code} {outcome.text}")
        return stop

    try:
        client = PipelinedSmtp(sender.connection.connection, sender.envelope_from, on_wait=marks.flush)
        while index < len(deliveries):
            delivery = deliveries[index]
            raw, message_id = renderer.message(
                sender, delivery, values.get(delivery.member_id, {}), delivery.member_id in tracked
            )
            message_ids[delivery.pk] = message_id
            index += 1
            stop = settle(client.send(delivery.pk, delivery.member.email, raw))
            if stop:
                return _stop_sending(client, deliveries, index, stop, token, result, by_pk)
        stop = settle(client.finish())
        if stop:
            return _stop_sending(client, deliveries, index, stop, token, result, by_pk)
        return 0.0
    except (OSError, smtplib.SMTPException) as error:
        # The connection broke: what the server has not answered waits for a retry (the message whose reply was
        # lost may have been accepted: the documented window).
        unsettled = list(message_ids) + [d.pk for d in deliveries[index:]]
        if client is not None:
            client.abort()
        rest = [by_pk[pk] for pk in dict.fromkeys(unsettled)]
        result["failed"] += len(rest)
        return _mark_failed_attempt(rest, token, f"SMTP: {error}")


def _stop_sending(client, deliveries, index, stop, token, result, by_pk) -> float:
    """A temporary failure: the refused message, the one whose content was not sent yet and the rest wait."""
    failed_pk, reason = stop
    keys = [failed_pk]
    if client.in_flight is not None:
        keys.append(client.in_flight)
    keys += [d.pk for d in deliveries[index:]]
    client.abort()
    rest = [by_pk[pk] for pk in dict.fromkeys(keys)]
    result["failed"] += len(rest)
    return _mark_failed_attempt(rest, token, reason)


def _send_sms(deliveries: list[Delivery], token: str, result: dict) -> float:
    values = _personal(deliveries)
    backend = sms_backend()
    for index, delivery in enumerate(deliveries):
        template = rendered_template(delivery.template)
        personal = dict(values.get(delivery.member_id, {}))
        personal.update(delivery.context or {})
        text = template.text.render(personal, escape=False)
        try:
            if getattr(backend, "transactional", False):
                with transaction.atomic():
                    provider_id = backend.send(delivery.member.phone, text, delivery_id=delivery.pk)
                    _mark_sent(delivery.pk, token, provider_id)
            else:
                provider_id = backend.send(delivery.member.phone, text, delivery_id=delivery.pk)
                _mark_sent(delivery.pk, token, provider_id)
        except SmsError as error:
            rest = deliveries[index:]
            result["failed"] += len(rest)
            return _mark_failed_attempt(rest, token, str(error))
        result["sent"] += 1
    return 0.0


# --- sweeping -----------------------------------------------------------------------------------------------


def deliveries_stalled(*, campaign_id: int | None = None, grace_seconds: int | None = None) -> list[int]:
    """Deliveries nobody is working on: leases that ended, retries that are due, queued rows older than the
    grace (their task was lost with a broker or worker). For the sweep and for resuming a campaign."""
    now = timezone.now()
    grace = conf.lease_seconds() if grace_seconds is None else grace_seconds
    old = now - timedelta(seconds=grace)
    # A queued row older than the grace is lost only if its campaign stalled: while messages of the campaign
    # are being marked sent, its tasks are still in the broker's queue and handing them out again would only
    # pile up duplicate tasks (harmless, the claim sends once, but wasted).
    progressing = Delivery.objects.filter(campaign=OuterRef("campaign"), sent_at__gte=old)
    queued = Q(status=Delivery.Status.QUEUED) & (
        (Q(next_attempt_at__isnull=True, created_at__lte=old) & ~Q(Exists(progressing)))
        | Q(next_attempt_at__lte=now - timedelta(seconds=grace / 5))
    )
    expired = Q(status=Delivery.Status.SENDING, lease_until__lt=now)
    rows = Delivery.objects.filter(queued | expired).filter(
        Q(campaign__isnull=True) | Q(campaign__status=Campaign.Status.SENDING)
    )
    if campaign_id is not None:
        rows = rows.filter(campaign_id=campaign_id)
    return list(rows.order_by("pk").values_list("pk", flat=True))


def campaigns_sweep(*, grace_seconds: int | None = None) -> int:
    """Hand stalled deliveries to senders again and re-run fan-outs that died; returns the rows handed out."""
    now = timezone.now()
    grace = conf.lease_seconds() if grace_seconds is None else grace_seconds
    for campaign_id in Campaign.objects.filter(
        status=Campaign.Status.SENDING, fanout_done=False, launched_at__lte=now - timedelta(seconds=grace)
    ).values_list("pk", flat=True):
        enqueue_fanout(campaign_id)
    ids = deliveries_stalled(grace_seconds=grace)
    size = conf.batch_size()
    for start in range(0, len(ids), size):
        enqueue_send(ids[start : start + size])
    for campaign_id in Campaign.objects.filter(status=Campaign.Status.SENDING, fanout_done=True).values_list(
        "pk", flat=True
    ):
        campaign_finish_if_done(campaign_id=campaign_id)
    return len(ids)


enqueue_fanout: Callable[[int], None] = lambda campaign_id: campaign_fanout(campaign_id=campaign_id)  # noqa: E731
