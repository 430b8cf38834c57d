"""Every app's personal data in a member's export, and every app scrubbing its own on erasure."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Delivery, Segment, SegmentMember, SmsOutbox
from members.data_export import as_csv_zip, as_json, collect
from members.erasure import member_erase
from rewards.engagement.models import (
    Badge,
    BadgeAward,
    Challenge,
    ChallengeCompletion,
    ChallengeProgress,
    LeaderboardProfile,
    Referral,
)
from rewards.models import Reward
from rewards.redemption import reward_redeem
from rewards.selectors import ledger_mismatches
from rewards.services import points_earn

pytestmark = pytest.mark.django_db


@pytest.fixture
def busy(make_member, program):
    """A member with something in every app: a voucher, a challenge, a badge, a referral, messages."""
    member = make_member(phone="+48600100200")
    friend = make_member()
    points_earn(member=member, points=1000, reason="start", idempotency_key="start")
    reward = Reward.objects.create(code="kawa", name="Kawa", kind=Reward.Kind.PRODUCT, points_cost=100)
    redemption = reward_redeem(member=member, reward=reward)
    now = timezone.now()
    challenge = Challenge.objects.create(
        code="trzy",
        name="Trzy zakupy",
        kind=Challenge.Kind.PURCHASES,
        target=Decimal("3"),
        points=100,
        starts_at=now - timedelta(days=1),
        ends_at=now + timedelta(days=1),
    )
    ChallengeProgress.objects.create(challenge=challenge, member=member, value=Decimal("3"))
    ChallengeCompletion.objects.create(challenge=challenge, member=member)
    badge = Badge.objects.create(code="star", name="Star")
    BadgeAward.objects.create(member=member, badge=badge)
    Referral.objects.create(referrer=member, referee=friend)
    LeaderboardProfile.objects.create(member=member, display_name="Kasia W.", opted_in=True)
    delivery = Delivery.objects.create(
        member=member,
        channel="sms",
        status="sent",
        sent_at=now,
        context={"voucher_code": redemption.voucher.code},
        error="550 +48600100200 rejected",
    )
    queued = Delivery.objects.create(member=member, channel="email", status="queued")
    SmsOutbox.objects.create(phone="+48600100200", text="Czesc Kasia, Twoj kod ...", delivery=delivery)
    segment = Segment.objects.create(name="VIP", kind=Segment.Kind.STATIC)
    SegmentMember.objects.create(segment=segment, member=member)
    return {"member": member, "voucher": redemption.voucher, "queued": queued, "delivery": delivery}


def test_the_export_holds_every_apps_personal_data(busy):
    data = collect(busy["member"])
    for section in (
        "redemptions",
        "vouchers",
        "challenges",
        "badges",
        "referrals",
        "leaderboard_profile",
        "messages",
        "segment_lists",
    ):
        assert data[section], section
    assert data["vouchers"][0]["code"] == busy["voucher"].code
    assert data["challenges"][0]["challenge_code"] == "trzy" and data["challenges"][0]["completed_at"]
    assert data["badges"][0]["badge_code"] == "star"
    assert data["referrals"] == [
        {
            "role": "referrer",
            "status": "pending",
            "refusal": "",
            "created_at": data["referrals"][0]["created_at"],
            "decided_at": None,
        }
    ]
    assert data["leaderboard_profile"][0]["display_name"] == "Kasia W."
    assert {row["channel"] for row in data["messages"]} == {"sms", "email"}
    assert data["segment_lists"] == [{"segment": "VIP"}]
    # Both formats write them.
    assert b"Kasia W." in as_json(data)
    assert len(as_csv_zip(data)) > 0


def test_erasure_scrubs_what_each_app_holds(busy):
    member = busy["member"]
    member_erase(member=member, actor=None)
    assert not LeaderboardProfile.objects.filter(member=member).exists()
    outbox = SmsOutbox.objects.get(delivery=busy["delivery"])
    assert outbox.phone == "" and outbox.text == ""
    busy["delivery"].refresh_from_db()
    assert busy["delivery"].context == {} and busy["delivery"].error == ""
    busy["queued"].refresh_from_db()
    assert busy["queued"].status == Delivery.Status.CANCELLED
    assert not SegmentMember.objects.filter(member=member).exists()
    # What holds no personal data stays, so the programme's totals add up.
    assert ChallengeCompletion.objects.filter(member=member).count() == 1
    assert BadgeAward.objects.filter(member=member).count() == 1
    assert ledger_mismatches() == []
    member.refresh_from_db()
    text = as_json(collect(member)).decode()
    assert "+48600100200" not in text and "Kasia" not in text
