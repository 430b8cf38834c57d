"""Birthday bonus once a year (also run twice, also 29 February), and the milestone badges."""

import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from rewards.engagement import tasks
from rewards.engagement.models import Badge, BadgeAward
from rewards.engagement.services import badges_one_year, birthday_bonuses_award, birthday_days
from rewards.models import LedgerEntry, PointsAccount
from rewards.selectors import ledger_mismatches
from rewards.services import purchase_post

pytestmark = pytest.mark.django_db


def test_the_birthday_task_run_twice_on_one_day_awards_once(make_member, program, engagement, monkeypatch):
    today = timezone.localdate()
    born = make_member(birth_date=date(1990, today.month, min(today.day, 28)))
    other = make_member(birth_date=date(1990, today.month % 12 + 1, 1))
    day = date(today.year, today.month, min(today.day, 28))
    monkeypatch.setattr(tasks.services, "birthday_bonuses_award", lambda: birthday_bonuses_award(today=day))
    assert tasks.birthday_bonuses_task() == 1
    assert tasks.birthday_bonuses_task() == 0
    assert PointsAccount.objects.get(member=born).balance == 100
    assert not LedgerEntry.objects.filter(member=other).exists()
    assert LedgerEntry.objects.get(member=born).idempotency_key == f"birthday:{born.pk}:{day.year}"
    assert list(ledger_mismatches()) == []


def test_29_february_is_celebrated_on_28_february_in_other_years(make_member, program, engagement):
    leapling = make_member(birth_date=date(2000, 2, 29))
    assert birthday_days(date(2027, 2, 28)) == [(2, 28), (2, 29)]
    assert birthday_days(date(2028, 2, 28)) == [(2, 28)]
    assert birthday_bonuses_award(today=date(2027, 2, 28)) == 1
    assert birthday_bonuses_award(today=date(2027, 3, 1)) == 0
    assert birthday_bonuses_award(today=date(2028, 2, 28)) == 0
    assert birthday_bonuses_award(today=date(2028, 2, 29)) == 1
    assert PointsAccount.objects.get(member=leapling).balance == 200


def test_the_first_purchase_badge_and_the_tier_badge(member, program, tiers):
    first = Badge.objects.create(code="first", name="First", milestone=Badge.Milestone.FIRST_PURCHASE)
    gold = Badge.objects.create(code="gold", name="Gold", milestone=Badge.Milestone.TIER_REACHED, tier=tiers[2])
    for amount in ("100", "6000"):
        purchase_post(
            member=member,
            source="pos",
            external_id=uuid.uuid4().hex[:10],
            amount=Decimal(amount),
            purchased_at=timezone.now() - timedelta(minutes=1),
        )
    assert set(BadgeAward.objects.filter(member=member).values_list("badge_id", flat=True)) == {first.pk, gold.pk}


def test_the_one_year_badge_is_given_once(make_member, program):
    badge = Badge.objects.create(code="year", name="A year", milestone=Badge.Milestone.ONE_YEAR)
    veteran = make_member(joined_at=timezone.now() - timedelta(days=400))
    make_member()
    assert badges_one_year() == 1
    assert badges_one_year() == 0
    assert BadgeAward.objects.get(badge=badge).member == veteran


def test_a_process_that_posts_nothing_sees_a_new_badge(member, program):
    """Outside a posting path the cached configuration is checked against the database, not trusted."""
    from rewards.engagement.services import badges_first_purchase

    purchase_post(member=member, source="pos", external_id="warm", amount=Decimal("10"))  # caches the config
    badge = Badge.objects.create(code="late", name="Late", milestone=Badge.Milestone.FIRST_PURCHASE)
    badges_first_purchase(member_ids=[member.pk])
    assert BadgeAward.objects.filter(member=member, badge=badge).exists()
