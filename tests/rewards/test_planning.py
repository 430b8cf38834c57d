"""rewards.planning: the one validator of a purchase and the one tier state machine, without the database."""

from decimal import Decimal

from django.utils import translation

from members.services import LineData
from rewards.planning import purchase_problems


def problems(**given):
    purchase = {"source": "pos", "external_id": "R-1", "amount": Decimal("100.00"), "store": "online"} | given
    with translation.override("en"):
        return [(p.about, p.message, p.line) for p in purchase_problems(**purchase)]


def test_a_valid_purchase_has_no_problems():
    assert problems(lines=[LineData(sku="A", amount=Decimal("100.00"))], member_id=1, member_status="active") == []


def test_each_refusal_has_one_wording_and_says_what_it_is_about():
    assert problems(member_id=7, member_status=None) == [("member", "No member with id 7.", None)]
    assert problems(member_id=7, member_status="active", recorded_for=(8, "1000000008")) == [
        ("recorded", "Purchase R-1 from pos is already recorded for member 1000000008.", None)
    ]
    assert problems(amount=Decimal("-1")) == [("amount", "A purchase amount cannot be negative.", None)]
    assert problems(amount=Decimal("1e10")) == [("amount", "The purchase amount is too large.", None)]
    assert problems(lines=[LineData(sku="A", amount=Decimal("60")), LineData(sku="B", amount=Decimal("50"))]) == [
        ("lines", "The line amounts add up to more than the purchase amount.", None)
    ]
    assert problems(lines=[LineData(sku="A" * 41, amount=Decimal("1"))]) == [
        ("sku", "A line's SKU is longer than 40 characters.", 0)
    ]


def test_the_same_member_or_an_unchecked_member_is_no_problem():
    # A purchase recorded for the same member is a repeat, which the paths skip.
    assert problems(member_id=8, recorded_for=(8, "1000000008")) == []
    assert problems(member_id=8) == []


def test_problems_come_most_important_first():
    found = problems(member_id=7, member_status="suspended", member_number="1000000007", amount=Decimal("-1"))
    assert [about for about, _message, _line in found] == ["member", "amount"]
