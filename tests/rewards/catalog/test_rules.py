"""The reward catalog and partners: what the database refuses, and what members can be offered."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from rewards.catalog import rewards_available
from rewards.models import Partner, Reward, nip_is_valid, validate_nip
from tests.factories import VALID_NIP, PartnerFactory

from .support import make_reward


@pytest.mark.parametrize(
    "fields",
    [
        {"points_cost": 0},
        {"stock": -1},
        {"per_member_limit": 0},
        {"cash_value": Decimal("-1.00")},
        {"available_from": datetime(2026, 5, 1, tzinfo=UTC), "available_until": datetime(2026, 4, 1, tzinfo=UTC)},
        {"available_from": datetime(2026, 5, 1, tzinfo=UTC), "available_until": datetime(2026, 5, 1, tzinfo=UTC)},
    ],
    ids=["cost-zero", "stock-negative", "limit-zero", "value-negative", "ends-before-start", "ends-when-starts"],
)
def test_the_database_refuses_an_impossible_reward(db, fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_reward(**fields)


def test_the_database_refuses_a_nip_that_is_not_ten_digits(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        Partner.objects.create(code="x", name="X", email="x@example.pl", nip="123-456-32")


def test_a_form_reports_a_reversed_period_in_words(db):
    reward = Reward(
        code="x",
        name="X",
        kind=Reward.Kind.PRODUCT,
        points_cost=10,
        available_from=timezone.now(),
        available_until=timezone.now() - timedelta(days=1),
    )
    with pytest.raises(ValidationError) as error:
        reward.full_clean()
    assert error.value.message_dict == {"available_until": ["„Dostępna do” musi być późniejsza niż „dostępna od”."]}


@pytest.mark.parametrize(
    ("nip", "valid"),
    [(VALID_NIP, True), ("1234563219", False), ("123456321", False), ("0000000000", True), ("12345632a8", False)],
)
def test_nip_checksum(nip, valid):
    assert nip_is_valid(nip) is valid


def test_the_nip_validator_explains_a_wrong_check_digit():
    validate_nip("")  # optional
    with pytest.raises(ValidationError, match="nie jest poprawnym numerem NIP"):
        validate_nip("1234563219")


def test_available_rewards_are_active_in_their_dates_in_stock_and_from_active_partners(partner):
    now = timezone.now()
    offered = {
        make_reward("plain"),
        make_reward("in-dates", available_from=now - timedelta(days=1), available_until=now + timedelta(days=1)),
        make_reward("last-one", stock=1),
        make_reward("partner-active", partner=partner),
    }
    make_reward("inactive", is_active=False)
    make_reward("not-yet", available_from=now + timedelta(hours=1))
    make_reward("ended", available_until=now - timedelta(hours=1))
    make_reward("sold-out", stock=0)
    closed = PartnerFactory(code="closed", is_active=False)
    make_reward("partner-inactive", partner=closed)

    assert set(rewards_available(at=now)) == offered
    later = {r.code for r in rewards_available(at=now + timedelta(days=2))}
    assert later == {"plain", "last-one", "partner-active", "not-yet"}
