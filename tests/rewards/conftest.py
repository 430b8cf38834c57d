"""Fixtures shared by the batch's tests (tests/rewards/batch/) and the hooks' (test_hooks.py)."""

from decimal import Decimal

import pytest

from tests.factories import EarningRuleFactory, MemberFactory


@pytest.fixture
def returns_window(program):
    """Points wait 14 days in pending; lots expire after 12 months."""
    program.pending_days = 14
    program.save()
    return program


@pytest.fixture
def rules(tiers):
    """The demo's kinds of rule: a category multiplied, one excluded, a capped weekend, a basket bonus, and a
    multiplier for silver members online."""
    silver = tiers[1]
    return [
        EarningRuleFactory(name="Kosmetyki x2", kind="multiplier", multiplier=Decimal("2"), category="Kosmetyki"),
        EarningRuleFactory(name="Bez alkoholu", kind="exclude", category="Alkohol"),
        EarningRuleFactory(
            name="Weekend x2", kind="multiplier", multiplier=Decimal("2"), weekdays="6,7", max_points=150
        ),
        EarningRuleFactory(name="Koszyk 300 +40", kind="bonus", bonus_points=40, min_basket=Decimal("300")),
        EarningRuleFactory(
            name="Srebrni online x1.5", kind="multiplier", multiplier=Decimal("1.5"), tier=silver, store="online"
        ),
    ]


@pytest.fixture
def pairs(db):
    """Four members for the batch and a twin of each for posting one by one: {original's pk: twin}."""
    originals = MemberFactory.create_batch(4)
    return {member.pk: MemberFactory() for member in originals}
