"""Earning rules: what a purchase earns and the record of why."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from members.events import MemberJoined
from members.models import Member
from members.services import LineData
from rewards.models import LedgerEntry, PointsAccount
from rewards.services import event_award, purchase_post
from tests.factories import EarningRuleFactory, EventRuleFactory

WARSAW = ZoneInfo("Europe/Warsaw")
SATURDAY = datetime(2026, 11, 21, 12, 0, tzinfo=WARSAW)
MONDAY = datetime(2026, 11, 23, 12, 0, tzinfo=WARSAW)


def post(member, amount, *, at=MONDAY, store="online", lines=(), external_id=None):
    return purchase_post(
        member=member,
        source="pos",
        external_id=external_id or f"T-{amount}-{at:%j}-{store}-{len(lines)}",
        amount=Decimal(amount),
        purchased_at=at,
        store=store,
        lines=lines,
        now=at + timedelta(days=30),
    )


def test_base_rate_floors_to_whole_points(member, program):
    program.base_points_per_pln = Decimal("1.5")
    program.save()
    assert post(member, "99.99").entry.points == 149


def test_category_multiplier_and_excluded_category(member, program):
    EarningRuleFactory(name="Kosmetyki x2", kind="multiplier", multiplier=Decimal("2"), category="Kosmetyki")
    EarningRuleFactory(name="Bez alkoholu", kind="exclude", category="Alkohol")
    lines = [
        LineData(sku="K1", category="Kosmetyki", amount=Decimal("100")),
        LineData(sku="A1", category="Alkohol", amount=Decimal("50")),
        LineData(sku="D1", category="Dom", amount=Decimal("30")),
    ]
    entry = post(member, "180", lines=lines).entry
    assert entry.points == 100 * 2 + 30
    names = [rule["name"] for rule in entry.rules]
    assert "Kosmetyki x2" in names and any("excluded" in n for n in names)


def test_weekend_promotion_applies_only_on_weekends(member, program):
    EarningRuleFactory(name="Weekend x2", kind="multiplier", multiplier=Decimal("2"), weekdays="6,7")
    assert post(member, "100", at=SATURDAY).entry.points == 200
    assert post(member, "100", at=MONDAY).entry.points == 100


def test_time_boxed_store_promotion_min_basket_bonus_and_cap(member, program):
    EarningRuleFactory(
        name="Sklep 3 x3",
        kind="multiplier",
        multiplier=Decimal("3"),
        store="store-03",
        starts_at=MONDAY - timedelta(days=1),
        ends_at=MONDAY + timedelta(days=1),
    )
    EarningRuleFactory(name="Koszyk 200+", kind="bonus", bonus_points=50, min_basket=Decimal("200"))
    assert post(member, "100", store="store-03").entry.points == 300
    assert post(member, "100", store="store-03", at=MONDAY + timedelta(days=2)).entry.points == 100
    assert post(member, "250", store="online").entry.points == 300
    program.max_points_per_purchase = 120
    program.save()
    assert post(member, "250", store="online", external_id="capped").entry.points == 120


def test_tier_multiplier_applies(member, program, tiers):
    post(member, "1200", external_id="big")  # reaches Silver (x1.25)
    assert PointsAccount.objects.get(member=member).tier.code == "silver"
    assert post(member, "100", external_id="next").entry.points == 125


def test_event_points_respect_the_cap_per_period(member, program):
    EventRuleFactory(event="product_rated", points=10, cap_count=2, cap_period="day")
    awarded = [event_award(member=member, event="product_rated", reference=f"review-{i}", now=MONDAY) for i in range(3)]
    assert [bool(a) for a in awarded] == [True, True, False]
    assert event_award(member=member, event="product_rated", reference="review-9", now=MONDAY + timedelta(days=1))
    assert LedgerEntry.objects.filter(member=member, kind="bonus").count() == 3


def test_suspended_member_cannot_post_purchases(member, program):
    from rewards.services import PointsError

    member.status = "suspended"
    member.save()
    # The reason names the status, in the active language.
    with pytest.raises(PointsError, match=str(Member.Status.SUSPENDED.label).lower()):
        post(member, "10")


def test_enrolment_awards_joined_points_once(program):
    from datetime import date

    from members.services import MemberError, member_enroll
    from rewards.receivers import joining_bonus_award

    EventRuleFactory(event="joined", points=100, cap_count=1, cap_period="ever")
    EventRuleFactory(event="profile_completed", points=50, cap_count=1, cap_period="ever")
    referrer = member_enroll(actor=None, join_source="online", first_name="Ala", last_name="Nowak", email="ala@x.pl")
    member = member_enroll(
        actor=None,
        join_source="referral",
        first_name="Ola",
        last_name="Wiśniewska",
        email="ola@example.pl",
        phone="+48601999888",
        birth_date=date(1990, 5, 1),
        city="Kraków",
        postal_code="30-001",
        referred_by_code=referrer.referral_code,
    )
    assert member.referred_by == referrer and member.join_source == "referral"
    assert PointsAccount.objects.get(member=referrer).balance == 100
    assert PointsAccount.objects.get(member=member).balance == 150
    # The same enrolment announced again (a re-run) awards nothing more.
    joining_bonus_award([MemberJoined(member.pk, member.joined_at, "referral", referrer.pk, welcome=True)])
    assert PointsAccount.objects.get(member=member).balance == 150
    with pytest.raises(MemberError) as info:
        member_enroll(actor=None, join_source="referral", first_name="X", last_name="Y", referred_by_code="NOPE1234")
    assert str(info.value) == "Żaden aktywny członek nie ma kodu polecającego 'NOPE1234'."


def test_members_from_another_systems_history_get_no_joining_points(program):
    from members.services import member_enroll

    EventRuleFactory(event="joined", points=100, cap_count=1, cap_period="ever")
    member = member_enroll(actor=None, join_source="import", welcome=False, first_name="Ala", last_name="Nowak")
    assert not LedgerEntry.objects.filter(member=member).exists()


def test_excluded_lines_do_not_count_towards_a_minimum_basket(member, program):
    """Alcohol earns nothing and unlocks nothing: a 250 zł basket of alcohol gets no basket bonus."""
    EarningRuleFactory(name="Bez alkoholu", kind="exclude", category="Alkohol")
    EarningRuleFactory(name="Koszyk 200+", kind="bonus", bonus_points=50, min_basket=Decimal("200"))
    EarningRuleFactory(name="Duży koszyk x2", kind="multiplier", multiplier=Decimal("2"), min_basket=Decimal("200"))
    only_alcohol = [LineData(sku="A1", category="Alkohol", amount=Decimal("250"))]
    assert post(member, "250", lines=only_alcohol, external_id="alcohol").entry is None  # no points, no entry
    mixed = [
        LineData(sku="A1", category="Alkohol", amount=Decimal("150")),
        LineData(sku="D1", category="Dom", amount=Decimal("100")),
    ]
    assert post(member, "250", lines=mixed, external_id="mixed").entry.points == 100  # 100 earning zł < 200
    enough = [
        LineData(sku="A1", category="Alkohol", amount=Decimal("50")),
        LineData(sku="D1", category="Dom", amount=Decimal("200")),
    ]
    assert post(member, "250", lines=enough, external_id="enough").entry.points == 200 * 2 + 50


def test_a_category_bonus_needs_an_earning_line_of_that_category(member, program):
    EarningRuleFactory(name="Bez alkoholu", kind="exclude", sku="A1")
    EarningRuleFactory(name="Wino +30", kind="bonus", bonus_points=30, category="Wino")
    wine_excluded = [LineData(sku="A1", category="Wino", amount=Decimal("40"))]
    assert post(member, "40", lines=wine_excluded, external_id="w1").entry is None
    wine = [LineData(sku="W2", category="Wino", amount=Decimal("40"))]
    assert post(member, "40", lines=wine, external_id="w2").entry.points == 40 + 30
