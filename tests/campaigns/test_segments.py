"""Segments: rules from the registry evaluated in the database, and/or groups, static lists, the registry API."""

from decimal import Decimal

import pytest
from django.db.models import Q
from django.utils import timezone

from campaigns import rules
from campaigns.models import Segment, SegmentRule
from campaigns.rules import RuleError, RuleKind
from campaigns.selectors import rules_q, segment_members
from campaigns.services import CampaignError, segment_upload_members
from members.models import Member
from members.services import purchase_create

pytestmark = pytest.mark.django_db


def test_rules_in_a_group_all_hold_and_any_group_may_hold(make_member, program):
    warsaw = make_member(city="Warszawa")
    krakow = make_member(city="Kraków")
    make_member(city="Gdańsk")
    purchase_create(member=krakow, source="pos", external_id="p1", amount=Decimal("300"), purchased_at=timezone.now())
    segment = Segment.objects.create(name="s")
    SegmentRule.objects.create(segment=segment, group=1, kind="city", operator="eq", value="warszawa")
    SegmentRule.objects.create(segment=segment, group=2, kind="total_spend", operator="gte", value="250")
    SegmentRule.objects.create(segment=segment, group=2, kind="purchases", operator="eq", value="1")
    assert set(segment_members(segment=segment)) == {warsaw, krakow}


def test_a_rule_with_a_bad_value_is_refused_in_words():
    with pytest.raises(RuleError, match="not a number"):
        rules_q([(1, "balance", "gte", "dużo")])
    with pytest.raises(RuleError, match="cannot use the operator"):
        rules_q([(1, "city", "gte", "Kraków")])


def test_other_apps_register_rule_kinds(make_member):
    member = make_member(first_name="Zenon")
    make_member()
    kind = RuleKind("test_first_name", "First name", ("eq",), None, lambda op, value: Q(first_name=value))
    rules.register(kind)
    try:
        assert kind in rules.kinds()
        assert list(Member.objects.filter(rules_q([(1, "test_first_name", "eq", "Zenon")]))) == [member]
    finally:
        rules._kinds.pop("test_first_name")


def test_a_static_segment_comes_from_a_file_of_member_numbers(make_member):
    listed = [make_member(), make_member()]
    make_member()
    segment = Segment.objects.create(name="VIP")
    found = segment_upload_members(
        segment=segment, file=("member_number\n" + "\n".join(m.member_number for m in listed) + "\n999\n").encode()
    )
    assert (found["found"], found["missing"]) == (2, ["999"])
    assert set(segment_members(segment=segment)) == set(listed)
    with pytest.raises(CampaignError):
        segment_upload_members(segment=segment, file=b"\xff\xfe\x00")
