"""The factories build what the services would have written."""

from decimal import Decimal

from members.models import PurchaseLine
from rewards.models import LedgerEntry
from rewards.selectors import ledger_mismatches

from .factories import (
    PASSWORD,
    MemberFactory,
    PartnerFactory,
    PurchaseFactory,
    RewardFactory,
    StaffFactory,
    TierFactory,
    standard_tiers,
)


def test_a_member_is_enrolled_with_a_number_and_a_login_when_asked(db, client):
    plain, with_login = MemberFactory(), MemberFactory(login=True)

    assert plain.member_number and plain.user is None
    assert client.login(username=with_login.user.username, password=PASSWORD)


def test_a_purchase_is_posted_with_its_lines_and_points(program):
    purchase = PurchaseFactory(amount=Decimal("100.01"), line_count=3)

    lines = PurchaseLine.objects.filter(purchase=purchase)
    assert sum(line.amount for line in lines) == Decimal("100.01")
    assert LedgerEntry.objects.get(purchase=purchase).points == 100
    assert ledger_mismatches() == []


def test_staff_get_their_role_and_the_catalog_its_rows(db):
    support = StaffFactory(role="Support")
    reward = RewardFactory(partner=PartnerFactory(code="kino"), min_tier=standard_tiers()[1])

    assert support.is_staff and list(support.groups.values_list("name", flat=True)) == ["Support"]
    assert (reward.partner.code, reward.min_tier.code) == ("kino", "silver")
    assert TierFactory(code="silver").pk == reward.min_tier.pk  # by code: the same row
