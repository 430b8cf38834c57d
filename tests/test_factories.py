"""The factories build what the services would have written."""

from decimal import Decimal

from members.models import Member, Purchase, PurchaseLine
from rewards.models import LedgerEntry, ProgramSettings
from rewards.selectors import ledger_mismatches

from .factories import (
    PASSWORD,
    MemberFactory,
    PartnerFactory,
    ProgramSettingsFactory,
    PurchaseFactory,
    PurchaseRowFactory,
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


def test_a_batch_row_names_the_member_given_and_creates_one_only_when_none_is(db):
    member = MemberFactory()

    given, unknown, fresh = (
        PurchaseRowFactory(member=member),
        PurchaseRowFactory(member_id=999_999),
        PurchaseRowFactory(),
    )

    assert (given.member_id, unknown.member_id) == (member.pk, 999_999)
    assert Member.objects.count() == 2 and Member.objects.filter(pk=fresh.member_id).exists()
    assert not Purchase.objects.exists()  # built for the batch, not posted


def test_the_programme_settings_are_one_row_written_over(program):
    ProgramSettingsFactory(pending_days=14, tier_grace_days=0)

    settings = ProgramSettings.objects.get()
    assert (settings.pending_days, settings.tier_grace_days, settings.base_points_per_pln) == (14, 0, Decimal("1"))
