"""Writes of campaigns: segments, templates, the campaign lifecycle, unsubscribe and SMS STOP."""

import csv
import io
from collections.abc import Sequence
from datetime import datetime

from django.core import signing
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from members.models import Channel, ConsentEvent, Member
from members.services import consent_withdraw

from . import conf, sending
from .models import Campaign, Delivery, MessageTemplate, Segment, SegmentMember, Variant
from .personal import template_problems
from .sms import sms_length


class CampaignError(ValueError):
    """A refused change, with a message for staff."""


# --- templates ----------------------------------------------------------------------------------------------


def message_template_problems(*, channel: str, subject: str, html: str, text: str) -> dict[str, list[str]]:
    """Problems per field of a template (empty: it may be saved)."""
    problems = {
        name: template_problems(value) for name, value in (("subject", subject), ("html", html), ("text", text))
    }
    if channel == Channel.EMAIL and not subject.strip():
        problems["subject"].append(gettext("An email needs a subject."))
    if channel == Channel.EMAIL and not (html.strip() or text.strip()):
        problems["text"].append(gettext("An email needs an HTML body or a text."))
    if channel == Channel.SMS and not text.strip():
        problems["text"].append(gettext("An SMS needs a text."))
    return {name: found for name, found in problems.items() if found}


@transaction.atomic
def message_template_save(*, template: MessageTemplate) -> MessageTemplate:
    problems = message_template_problems(
        channel=template.channel, subject=template.subject, html=template.html, text=template.text
    )
    if problems:
        raise CampaignError(" ".join(message for found in problems.values() for message in found))
    template.save()
    return template


def sms_warning(text: str) -> str:
    """A note for staff when an SMS takes more than one part or Polish letters force UCS-2."""
    length = sms_length(text)
    if length.encoding == "UCS-2" and length.parts > 1:
        return gettext("Characters %(chars)s switch the SMS to UCS-2: %(parts)s parts of 67.") % {
            "chars": length.forcing_ucs2,
            "parts": length.parts,
        }
    if length.parts > 1:
        return gettext("The SMS takes %(parts)s parts.") % {"parts": length.parts}
    return ""


# --- segments -----------------------------------------------------------------------------------------------


@transaction.atomic
def segment_upload_members(*, segment: Segment, file: io.IOBase | bytes | str) -> dict:
    """Fill a static segment from a file of member numbers (one a line, or a CSV's first column). Replaces the
    list; returns how many were found and the numbers not found (at most 20 shown)."""
    data = file if isinstance(file, (bytes, str)) else file.read()
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CampaignError(gettext("The file is not UTF-8 text: save it as CSV (UTF-8).")) from None
    numbers = []
    for row in csv.reader(io.StringIO(data), delimiter=";" if data.count(";") > data.count(",") else ","):
        if row and row[0].strip():
            numbers.append(row[0].strip())
    if numbers and not Member.objects.filter(member_number=numbers[0]).exists():
        numbers = numbers[1:]  # a header line
    if not numbers:
        raise CampaignError(gettext("The file holds no member numbers."))
    found = dict(Member.objects.filter(member_number__in=numbers).values_list("member_number", "pk"))
    segment.kind = Segment.Kind.STATIC
    segment.save(update_fields=["kind"])
    SegmentMember.objects.filter(segment=segment).delete()
    SegmentMember.objects.bulk_create(
        [SegmentMember(segment=segment, member_id=pk) for pk in set(found.values())], batch_size=5000
    )
    missing = [number for number in numbers if number not in found]
    return {"found": len(set(found.values())), "missing": missing[:20], "missing_count": len(missing)}


# --- the campaign lifecycle ---------------------------------------------------------------------------------


def _check_ready(campaign: Campaign) -> None:
    variants = list(campaign.variants.select_related("template"))
    if not variants:
        raise CampaignError(gettext("Add a message (a variant) before launching."))
    if sum(v.weight for v in variants) != 100:
        raise CampaignError(gettext("The variants' shares must add up to 100%."))
    for variant in variants:
        if variant.template.channel != campaign.channel:
            raise CampaignError(
                gettext("Variant %(label)s's message is for another channel.") % {"label": variant.label}
            )


@transaction.atomic
def campaign_launch(*, campaign: Campaign, now: datetime | None = None) -> Campaign:
    """Schedule the campaign, or start sending now when its time has come. Returns at once: the fan-out and the
    sending run in Celery tasks sent after this transaction commits."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in (Campaign.Status.DRAFT, Campaign.Status.SCHEDULED):
        raise CampaignError(gettext("Only a draft or scheduled campaign can be launched."))
    _check_ready(campaign)
    if campaign.scheduled_at and campaign.scheduled_at > now:
        campaign.status = Campaign.Status.SCHEDULED
        campaign.save(update_fields=["status"])
        return campaign
    campaign.status = Campaign.Status.SENDING
    campaign.launched_at = now
    campaign.save(update_fields=["status", "launched_at"])
    transaction.on_commit(lambda: sending.enqueue_fanout(campaign.pk))
    return campaign


def campaigns_launch_due(*, now: datetime | None = None) -> int:
    """Launch the scheduled campaigns whose time has come (beat, every minute)."""
    now = now or timezone.now()
    launched = 0
    for campaign in Campaign.objects.filter(status=Campaign.Status.SCHEDULED, scheduled_at__lte=now):
        campaign_launch(campaign=campaign, now=now)
        launched += 1
    return launched


@transaction.atomic
def campaign_pause(*, campaign: Campaign) -> Campaign:
    """Stop handing out messages; those being sent this moment finish."""
    if not Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.SENDING).update(
        status=Campaign.Status.PAUSED
    ):
        raise CampaignError(gettext("Only a campaign that is sending can be paused."))
    campaign.refresh_from_db()
    return campaign


@transaction.atomic
def campaign_resume(*, campaign: Campaign) -> Campaign:
    if not Campaign.objects.filter(pk=campaign.pk, status=Campaign.Status.PAUSED).update(
        status=Campaign.Status.SENDING
    ):
        raise CampaignError(gettext("Only a paused campaign can be resumed."))
    campaign.refresh_from_db()

    def hand_out() -> None:
        if not campaign.fanout_done:
            sending.enqueue_fanout(campaign.pk)
            return
        ids = sending.deliveries_stalled(campaign_id=campaign.pk, grace_seconds=0)
        size = conf.batch_size()
        for start in range(0, len(ids), size):
            sending.enqueue_send(ids[start : start + size])
        sending.campaign_finish_if_done(campaign_id=campaign.pk)

    transaction.on_commit(hand_out)
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign) -> Campaign:
    """No further messages: queued ones are cancelled; any being sent this moment finish."""
    if not Campaign.objects.filter(
        pk=campaign.pk,
        status__in=[Campaign.Status.DRAFT, Campaign.Status.SCHEDULED, Campaign.Status.SENDING, Campaign.Status.PAUSED],
    ).update(status=Campaign.Status.CANCELLED, finished_at=timezone.now()):
        raise CampaignError(gettext("This campaign has already ended."))
    Delivery.objects.filter(campaign=campaign, status=Delivery.Status.QUEUED).update(status=Delivery.Status.CANCELLED)
    campaign.refresh_from_db()
    return campaign


@transaction.atomic
def campaign_create(
    *, name: str, channel: str, segment: Segment, templates: Sequence[tuple[MessageTemplate, int]], **options
) -> Campaign:
    """A draft campaign with its variants (template, share %), labelled A, B, C…"""
    campaign = Campaign.objects.create(name=name, channel=channel, segment=segment, **options)
    for index, (template, weight) in enumerate(templates):
        Variant.objects.create(campaign=campaign, label="ABCDEFGH"[index], template=template, weight=weight)
    return campaign


# --- unsubscribe and STOP -----------------------------------------------------------------------------------


def unsubscribe_read(token: str) -> tuple[Member, str, int | None] | None:
    """The member, channel and delivery a token names, or None when it is not ours or was altered."""
    try:
        member_id, channel, delivery_id = signing.loads(token, salt=sending.UNSUBSCRIBE_SALT)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    member = Member.objects.filter(pk=member_id).first()
    if member is None or channel not in Channel.values:
        return None
    return member, channel, delivery_id


@transaction.atomic
def unsubscribe_apply(*, token: str) -> bool:
    """Withdraw the marketing consent a one-click token names. False when the token is not valid."""
    found = unsubscribe_read(token)
    if found is None:
        return False
    member, channel, delivery_id = found
    consent_withdraw(member=member, channel=channel, purpose="marketing", source=ConsentEvent.Source.UNSUBSCRIBE)
    if delivery_id:
        Delivery.objects.filter(pk=delivery_id, unsubscribed_at__isnull=True).update(unsubscribed_at=timezone.now())
    return True


STOP_WORDS = {"STOP", "STOP SMS", "STOPSMS", "NIE", "WYPISZ", "REZYGNUJE", "REZYGNUJĘ"}


@transaction.atomic
def sms_inbound(*, phone: str, text: str) -> bool:
    """An SMS a member sent us: "STOP" (or NIE, WYPISZ) withdraws SMS marketing consent. True when it did."""
    if text.strip().upper().rstrip(".!") not in STOP_WORDS:
        return False
    withdrew = False
    for member in Member.objects.filter(phone=phone.strip()).exclude(status=Member.Status.ERASED):
        consent_withdraw(member=member, channel=Channel.SMS, purpose="marketing", source=ConsentEvent.Source.SMS_STOP)
        withdrew = True
    return withdrew


# --- tracking -----------------------------------------------------------------------------------------------


def delivery_track(*, delivery_id: int, clicked: bool) -> None:
    now = timezone.now()
    Delivery.objects.filter(pk=delivery_id, opened_at__isnull=True).update(opened_at=now)
    if clicked:
        Delivery.objects.filter(pk=delivery_id, clicked_at__isnull=True).update(clicked_at=now)


# --- one message (transactional, journeys, test sends) ------------------------------------------------------


def message_send_once(
    *,
    member: Member,
    template: MessageTemplate,
    journey=None,
    occasion: str = "",
    context: dict | None = None,
) -> Delivery | None:
    """Queue one message, at most once per journey and occasion; returns the delivery, or None if it existed.
    Transactional templates (a voucher issued) need no marketing consent and carry no unsubscribe link."""
    with transaction.atomic():
        delivery, created = (
            Delivery.objects.get_or_create(
                journey=journey,
                member=member,
                occasion=occasion,
                defaults={
                    "template": template,
                    "channel": template.channel,
                    "purpose": template.purpose,
                    "context": context or {},
                },
            )
            if journey is not None
            else (
                Delivery.objects.create(
                    member=member,
                    template=template,
                    channel=template.channel,
                    purpose=template.purpose,
                    occasion=occasion,
                    context=context or {},
                ),
                True,
            )
        )
        if not created:
            return None
        transaction.on_commit(lambda: sending.enqueue_send([delivery.pk]))
    return delivery
