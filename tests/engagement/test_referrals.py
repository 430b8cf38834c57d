"""Referrals: both rewarded on the referee's first purchase of at least the minimum, once; the guards."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members.models import LoyaltyCard
from members.services import member_enroll
from rewards.batch import PurchaseRow, purchases_post_batch
from rewards.engagement.models import Challenge, ChallengeCompletion, Referral
from rewards.engagement.selectors import referral_link
from rewards.models import LedgerEntry, PointsAccount
from rewards.selectors import ledger_mismatches
from rewards.services import purchase_post

pytestmark = pytest.mark.django_db


def _join(referrer, n, **fields):
    defaults = {"first_name": "Ola", "last_name": f"Nowak{n}", "email": f"ola{n}@example.pl", "phone": f"+4870{n:07d}"}
    defaults.update(fields)
    return member_enroll(actor=None, join_source="referral", referred_by_code=referrer.referral_code, **defaults)


def _buy(member, amount="80"):
    return purchase_post(
        member=member,
        source="pos",
        external_id=uuid.uuid4().hex[:12],
        amount=Decimal(amount),
        purchased_at=timezone.now() - timedelta(minutes=5),
    )


def _balance(member):
    account = PointsAccount.objects.filter(member=member).first()
    return account.balance if account else 0


def test_the_referral_link_carries_the_code(member):
    assert referral_link(member) == f"/dolacz/?ref={member.referral_code}"


def test_a_first_purchase_above_the_minimum_rewards_both_once(member, program, engagement):
    friend = _join(member, 1)
    assert Referral.objects.get(referee=friend).status == Referral.Status.PENDING
    _buy(friend, amount="20")  # below the minimum: still waiting
    assert Referral.objects.get(referee=friend).status == Referral.Status.PENDING
    _buy(friend, amount="80")
    _buy(friend, amount="90")  # a second qualifying purchase: nothing more
    referral = Referral.objects.get(referee=friend)
    assert referral.status == Referral.Status.REWARDED
    assert LedgerEntry.objects.filter(idempotency_key__startswith=f"referral:{friend.pk}:").count() == 2
    assert _balance(member) == 200
    assert _balance(friend) == 20 + 80 + 90 + 100
    assert list(ledger_mismatches()) == []


def test_the_same_email_phone_or_card_is_a_self_referral(member, program, engagement):
    by_email = _join(member, 2, email=member.email.upper())
    by_phone = _join(member, 3, phone=member.phone)
    LoyaltyCard.objects.create(member=member, number="5900-0012-34")
    by_card = _join(member, 4)
    LoyaltyCard.objects.create(member=by_card, number="590000123 4")  # the same card, typed differently
    for friend in (by_email, by_phone, by_card):
        _buy(friend)
    statuses = dict(Referral.objects.values_list("referee_id", "refusal"))
    assert statuses == {by_email.pk: "self", by_phone.pk: "self", by_card.pk: "self"}
    assert _balance(member) == 0
    assert not LedgerEntry.objects.filter(idempotency_key__startswith="referral:").exists()


def test_the_monthly_cap_per_referrer(member, program, engagement):
    friends = [_join(member, 10 + n) for n in range(3)]  # the cap is 2
    purchases_post_batch(
        [
            PurchaseRow(
                member_id=f.pk, source="pos", external_id=f"F{f.pk}", amount=Decimal("60"), purchased_at=timezone.now()
            )
            for f in friends
        ]
    )
    statuses = sorted(Referral.objects.values_list("status", "refusal"))
    assert statuses == [("refused", "cap"), ("rewarded", ""), ("rewarded", "")]
    assert _balance(member) == 400
    assert list(ledger_mismatches()) == []


def test_once_per_referee_even_when_processed_twice(member, program, engagement):
    friend = _join(member, 20)
    posted = _buy(friend)
    from rewards.engagement.services import referrals_qualify
    from rewards.events import PurchasePosted

    event = PurchasePosted(
        member_id=friend.pk,
        purchase_id=posted.purchase.pk,
        amount=posted.purchase.amount,
        purchased_at=posted.purchase.purchased_at,
        store="online",
        source="pos",
        categories=(),
        points=0,
    )
    assert referrals_qualify(events=[event]) == 0  # the same event again
    assert Referral.objects.filter(referee=friend).count() == 1
    assert _balance(member) == 200
    with pytest.raises(Exception):  # noqa: B017 - the database refuses a second referral of one referee
        Referral.objects.create(referee=friend, referrer=member)


def test_a_referral_challenge_counts_rewarded_referrals(member, program, engagement, make_challenge):
    challenge = make_challenge(kind=Challenge.Kind.REFERRALS, target=Decimal("2"), points=300)
    for n in range(2):
        _buy(_join(member, 30 + n))
    assert ChallengeCompletion.objects.filter(challenge=challenge, member=member).count() == 1
    assert _balance(member) == 200 * 2 + 300
    assert list(ledger_mismatches()) == []


def test_a_referred_member_without_a_referral_row_is_picked_up_at_the_first_purchase(
    make_member, member, program, engagement
):
    friend = make_member(referred_by=member)  # created without enrolment, e.g. by an old import
    _buy(friend)
    assert Referral.objects.get(referee=friend).status == Referral.Status.REWARDED
