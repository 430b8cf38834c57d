"""Campaigns wired to rewards: the challenge-progress rule, segment audiences of challenges, the voucher and
recommended-reward fields, and the transactional "voucher issued" message after a redemption."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from campaigns import sending
from campaigns.models import Delivery, Journey, MessageTemplate, Segment, SegmentRule
from campaigns.personal import personal_values
from campaigns.rules import RuleError
from campaigns.selectors import rules_q, segment_members
from members.models import Channel, Member
from rewards.engagement.models import Challenge, ChallengeCompletion, ChallengeProgress
from rewards.models import Reward, Voucher
from rewards.redemption import RedemptionRefused, reward_redeem, voucher_cancel
from rewards.services import points_earn, purchase_post

pytestmark = pytest.mark.django_db


def _challenge(code="trzy", **kwargs):
    now = timezone.now()
    defaults = {
        "code": code,
        "name": code,
        "kind": Challenge.Kind.PURCHASES,
        "target": Decimal("3"),
        "points": 100,
        "starts_at": now - timedelta(days=5),
        "ends_at": now + timedelta(days=5),
    }
    defaults.update(kwargs)
    challenge = Challenge(**defaults)
    challenge.full_clean()
    challenge.save()
    return challenge


def test_challenge_progress_rule(make_member):
    challenge = _challenge()
    done, started, idle = make_member(), make_member(), make_member()
    ChallengeProgress.objects.create(challenge=challenge, member=done, value=Decimal("3"))
    ChallengeCompletion.objects.create(challenge=challenge, member=done)
    ChallengeProgress.objects.create(challenge=challenge, member=started, value=Decimal("1"))
    members = Member.objects.filter(pk__in=[done.pk, started.pk, idle.pk])
    assert set(members.filter(rules_q([(1, "challenge", "completed", "trzy")]))) == {done}
    assert set(members.filter(rules_q([(1, "challenge", "in_progress", "trzy")]))) == {started}
    assert set(members.filter(rules_q([(1, "challenge", "not_completed", "trzy")]))) == {started, idle}
    with translation.override("en"):
        with pytest.raises(RuleError, match="no challenge"):
            rules_q([(1, "challenge", "completed", "nope")])
        with pytest.raises(RuleError, match="cannot use the operator"):
            rules_q([(1, "challenge", "gte", "trzy")])


def test_a_challenge_for_a_segment_counts_only_its_members(make_member, program):
    segment = Segment.objects.create(name="Kraków")
    SegmentRule.objects.create(segment=segment, kind="city", operator="eq", value="Kraków")
    inside, outside = make_member(city="Kraków"), make_member(city="Gdańsk")
    challenge = _challenge(
        "krakow",
        target=Decimal("1"),
        audience=Challenge.Audience.KIND,
        audience_kind="segment",
        audience_ref=str(segment.pk),
    )
    assert set(segment_members(segment=segment)) == {inside}
    for n, member in enumerate([inside, outside]):
        purchase_post(
            member=member, source="pos", external_id=f"S-{n}", amount=Decimal("50"), purchased_at=timezone.now()
        )
    assert list(ChallengeCompletion.objects.filter(challenge=challenge).values_list("member_id", flat=True)) == [
        inside.pk
    ]


def test_voucher_code_and_recommended_reward_fields(make_member, program, staff_user):
    member, poor = make_member(), make_member()
    points_earn(member=member, points=1000, reason="start", idempotency_key="start")
    cheap = Reward.objects.create(code="kawa", name="Kawa", kind=Reward.Kind.PRODUCT, points_cost=100)
    Reward.objects.create(code="kino", name="Kino", kind=Reward.Kind.EXPERIENCE, points_cost=500)
    Reward.objects.create(code="spa", name="Spa", kind=Reward.Kind.EXPERIENCE, points_cost=5000)
    first = reward_redeem(member=member, reward=cheap)
    second = reward_redeem(member=member, reward=cheap)
    voucher_cancel(voucher=second.voucher, actor=staff_user)  # the latest, but given back: not offered
    values = personal_values([member, poor], {"voucher_code", "voucher_reward", "recommended_reward"})
    assert values[member.pk]["voucher_code"] == first.voucher.code
    assert values[member.pk]["voucher_reward"] == "Kawa"
    assert values[member.pk]["recommended_reward"] == "Kino"  # 800 points left: the dearest affordable
    assert "voucher_code" not in values[poor.pk]
    assert values[poor.pk]["recommended_reward"] == "Kawa"  # nothing affordable: the cheapest to aim for


@pytest.fixture
def voucher_journey(db):
    template = MessageTemplate.objects.create(
        name="Voucher",
        channel=Channel.EMAIL,
        purpose=MessageTemplate.Purpose.TRANSACTIONAL,
        subject="Twój voucher",
        html="<p>Kod: {{ voucher_code }} na {{ voucher_reward }}, ważny do {{ voucher_valid_until }}</p>",
        text="Kod: {{ voucher_code }} na {{ voucher_reward }}, ważny do {{ voucher_valid_until }}",
    )
    Journey.objects.filter(code=Journey.Code.VOUCHER_ISSUED).update(enabled=True, template=template)
    return template


def test_a_redemption_sends_the_voucher_message_once_without_marketing_consent(
    make_member, program, voucher_journey, smtp_settings, smtp_sink, monkeypatch, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(sending, "enqueue_send", lambda ids: sending.deliveries_send(delivery_ids=ids))
    member = make_member()  # no marketing consent at all
    points_earn(member=member, points=1000, reason="start", idempotency_key="start")
    reward = Reward.objects.create(code="kawa", name="Kawa", kind=Reward.Kind.PRODUCT, points_cost=100, stock=1)
    with django_capture_on_commit_callbacks(execute=True):
        redemption = reward_redeem(member=member, reward=reward)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RedemptionRefused):
        reward_redeem(member=member, reward=reward)  # sold out: nothing announced, nothing sent
    delivery = Delivery.objects.get(journey__code="voucher_issued")
    assert delivery.status == Delivery.Status.SENT
    assert delivery.purpose == MessageTemplate.Purpose.TRANSACTIONAL
    assert delivery.occasion == f"voucher:{redemption.voucher.pk}"
    assert len(smtp_sink.messages) == 1
    (recipients, message) = smtp_sink.messages[0]
    assert recipients == (member.email,)
    assert message["List-Unsubscribe"] is None
    body = message.get_payload(0).get_payload(decode=True).decode()
    assert redemption.voucher.code in body and "Kawa" in body
    assert Voucher.objects.count() == 1


def test_no_voucher_message_while_the_journey_is_off(make_member, program, django_capture_on_commit_callbacks):
    member = make_member()
    points_earn(member=member, points=1000, reason="start", idempotency_key="start")
    reward = Reward.objects.create(code="kawa", name="Kawa", kind=Reward.Kind.PRODUCT, points_cost=100)
    with django_capture_on_commit_callbacks(execute=True):
        reward_redeem(member=member, reward=reward)
    assert not Delivery.objects.exists()
