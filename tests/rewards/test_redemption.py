"""Redeeming rewards through rewards.redemption: eligibility, the ledger, the stock, vouchers and their end."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from loyalty_site.hooks import receiving
from rewards.events import PointsRedeemed
from rewards.models import (
    VOUCHER_ALPHABET,
    LedgerEntry,
    PointsAccount,
    PointsLot,
    Redemption,
    Reward,
    Voucher,
    voucher_code_normalise,
)
from rewards.partners import partner_points_award, partner_settlement, partner_settlement_rows
from rewards.redemption import (
    RedemptionRefused,
    reward_redeem,
    voucher_cancel,
    voucher_lookup,
    voucher_use,
    vouchers_expire,
)
from rewards.selectors import ledger_mismatches
from rewards.services import points_earn, tier_recalculate
from tests.factories import PartnerFactory, RewardFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]


def balance(member) -> int:
    return PointsAccount.objects.get(member=member).balance


@pytest.fixture
def reward(db):
    return RewardFactory(code="kino", name="Bilet do kina", kind=Reward.Kind.EXPERIENCE, points_cost=100)


@pytest.fixture
def rich(member, program):
    points_earn(member=member, points=1000, reason="start", idempotency_key="start")
    return member


def test_redeem_spends_points_issues_voucher_and_takes_stock(rich, reward):
    reward.stock = 3
    reward.save()
    redemption = reward_redeem(member=rich, reward=reward)
    voucher = redemption.voucher
    assert balance(rich) == 900
    assert Reward.objects.get(pk=reward.pk).stock == 2
    assert voucher.status == Voucher.Status.ISSUED
    assert len(voucher.code) == 14 and set(voucher.code.replace("-", "")) <= set(VOUCHER_ALPHABET)
    assert voucher.expires_at - voucher.issued_at == timedelta(days=30)
    assert redemption.debit_entry.kind == LedgerEntry.Kind.REDEEM and redemption.debit_entry.points == -100
    assert ledger_mismatches() == []


def test_redeem_announces_points_redeemed(rich, reward):
    seen = []
    with receiving(PointsRedeemed, seen.extend):
        redemption = reward_redeem(member=rich, reward=reward)
    assert [event.entry_id for event in seen] == [redemption.debit_entry_id]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"is_active": False}, "not_available"),
        ({"stock": 0}, "sold_out"),
        ({"points_cost": 5000}, "points"),
        ({"available_from": timezone.now() + timedelta(days=1)}, "not_available"),
        ({"available_until": timezone.now() - timedelta(days=1)}, "not_available"),
    ],
)
def test_redeem_refuses_clearly_and_writes_nothing(rich, reward, change, code):
    Reward.objects.filter(pk=reward.pk).update(**change)
    with pytest.raises(RedemptionRefused) as refused:
        reward_redeem(member=rich, reward=reward)
    assert refused.value.code == code
    assert str(refused.value)
    assert balance(rich) == 1000
    assert not Redemption.objects.exists() and not Voucher.objects.exists()


def test_redeem_refuses_inactive_member_and_inactive_partner(rich, reward):
    partner = PartnerFactory(code="helios", name="Helios", email="k@helios.pl", is_active=False)
    reward.partner = partner
    reward.save()
    with pytest.raises(RedemptionRefused, match="not available"):
        reward_redeem(member=rich, reward=reward)
    partner.is_active = True
    partner.active_until = timezone.localdate() - timedelta(days=1)
    partner.save()
    with pytest.raises(RedemptionRefused):
        reward_redeem(member=rich, reward=reward)
    rich.status = "suspended"
    rich.save()
    with pytest.raises(RedemptionRefused) as refused:
        reward_redeem(member=rich, reward=reward)
    assert refused.value.code == "member_inactive"


def test_redeem_checks_tier(rich, reward, tiers):
    tier_recalculate(member=rich)
    reward.min_tier = tiers[1]
    reward.save()
    with pytest.raises(RedemptionRefused) as refused:
        reward_redeem(member=rich, reward=reward)
    assert refused.value.code == "tier" and "Srebrny" in str(refused.value)
    reward.min_tier = tiers[0]
    reward.save()
    reward_redeem(member=rich, reward=reward)


def test_per_member_limit_counts_only_vouchers_not_given_back(rich, reward, staff_user):
    reward.per_member_limit = 1
    reward.save()
    first = reward_redeem(member=rich, reward=reward)
    with pytest.raises(RedemptionRefused) as refused:
        reward_redeem(member=rich, reward=reward)
    assert refused.value.code == "limit"
    voucher_cancel(voucher=first.voucher, actor=staff_user)
    reward_redeem(member=rich, reward=reward)


def test_idempotency_key_returns_the_first_redemption(rich, reward):
    first = reward_redeem(member=rich, reward=reward, idempotency_key="form-1")
    again = reward_redeem(member=rich, reward=reward, idempotency_key="form-1")
    assert again.pk == first.pk and balance(rich) == 900


def test_points_spent_fifo_and_restored_with_the_latest_consumed_expiry(member, program, reward, staff_user):
    soon = points_earn(member=member, points=60, reason="a", idempotency_key="a")
    later = points_earn(member=member, points=100, reason="b", idempotency_key="b")
    PointsLot.objects.filter(entry=soon).update(expires_at=timezone.now() + timedelta(days=10))
    PointsLot.objects.filter(entry=later).update(expires_at=timezone.now() + timedelta(days=100))
    redemption = reward_redeem(member=member, reward=reward)
    assert PointsLot.objects.get(entry=soon).remaining == 0
    assert PointsLot.objects.get(entry=later).remaining == 60
    voucher_cancel(voucher=redemption.voucher, actor=staff_user)
    restore = Redemption.objects.get(pk=redemption.pk).restore_entry
    assert restore.kind == LedgerEntry.Kind.RESTORE and restore.related_entry_id == redemption.debit_entry_id
    assert PointsLot.objects.get(entry=restore).expires_at == PointsLot.objects.get(entry=later).expires_at
    assert balance(member) == 160
    assert ledger_mismatches() == []


def test_cancel_returns_points_and_stock_once(rich, reward, staff_user):
    reward.stock = 5
    reward.save()
    redemption = reward_redeem(member=rich, reward=reward)
    voucher = voucher_cancel(voucher=redemption.voucher, actor=staff_user)
    assert voucher.status == Voucher.Status.CANCELLED and voucher.closed_by == staff_user
    with pytest.raises(RedemptionRefused, match="cancelled"):
        voucher_cancel(voucher=voucher, actor=staff_user)
    assert balance(rich) == 1000
    assert Reward.objects.get(pk=reward.pk).stock == 5
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RESTORE).count() == 1
    assert ledger_mismatches() == []


def test_the_ledger_refuses_a_second_restore_of_one_debit(rich, reward, staff_user):
    redemption = reward_redeem(member=rich, reward=reward)
    voucher_cancel(voucher=redemption.voucher, actor=staff_user)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntry.objects.create(
            member=rich,
            kind=LedgerEntry.Kind.RESTORE,
            points=100,
            reason="again",
            idempotency_key="another-key",
            related_entry=redemption.debit_entry,
        )


def test_use_once_and_not_after_expiry(rich, reward, staff_user):
    voucher = reward_redeem(member=rich, reward=reward).voucher
    used = voucher_use(voucher=voucher, actor=staff_user)
    assert used.status == Voucher.Status.USED and used.used_by == staff_user
    with pytest.raises(RedemptionRefused, match="already been used"):
        voucher_use(voucher=voucher, actor=staff_user)
    with pytest.raises(RedemptionRefused, match="already been used"):
        voucher_cancel(voucher=voucher, actor=staff_user)
    late = reward_redeem(member=rich, reward=reward).voucher
    with pytest.raises(RedemptionRefused, match="expired"):
        voucher_use(voucher=late, actor=staff_user, now=late.expires_at + timedelta(seconds=1))


def test_expiry_returns_points_only_when_the_reward_says_so_and_runs_once(rich, reward):
    keep = reward_redeem(member=rich, reward=reward).voucher
    giving = RewardFactory(code="dostawa", name="Dostawa", kind="free_delivery", points_cost=50, stock=2)
    giving.return_unused = True
    giving.save()
    back = reward_redeem(member=rich, reward=giving).voucher
    later = timezone.now() + timedelta(days=31)
    assert vouchers_expire(now=later) == 2
    assert vouchers_expire(now=later) == 0
    assert Voucher.objects.get(pk=keep.pk).status == Voucher.Status.EXPIRED
    assert Voucher.objects.get(pk=back.pk).status == Voucher.Status.EXPIRED
    assert balance(rich) == 900  # 100 kept, 50 returned
    assert Reward.objects.get(pk=giving.pk).stock == 2
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.RESTORE).count() == 1
    assert ledger_mismatches() == []


def test_lookup_logs_every_attempt_and_limits_per_staff_member(rich, reward, staff_user, settings):
    settings.VOUCHER_LOOKUPS_PER_MINUTE = 3
    voucher = reward_redeem(member=rich, reward=reward).voucher
    typed = voucher.code.lower().replace("-", " ")
    assert voucher_lookup(code=typed, actor=staff_user).voucher == voucher
    assert voucher_lookup(code="AAAA-BBBB-CCCC", actor=staff_user).voucher is None
    assert voucher_lookup(code=voucher.code, actor=staff_user).voucher == voucher
    limited = voucher_lookup(code=voucher.code, actor=staff_user)
    assert limited.limited and limited.voucher is None
    assert list(voucher.lookups.values_list("outcome", flat=True)) == ["found", "found"]
    from rewards.models import VoucherLookup

    assert VoucherLookup.objects.count() == 4


def test_code_normalise():
    assert voucher_code_normalise(" abcd efgh-jkmn ") == "ABCD-EFGH-JKMN"


def test_partner_award_and_settlement(rich, reward, staff_user):
    partner = PartnerFactory(code="helios", name="Helios", email="k@helios.pl")
    reward.partner = partner
    reward.settlement_value = Decimal("12.50")
    reward.save()
    entry = partner_points_award(partner=partner, member=rich, points=40, reason="Helios x2", idempotency_key="p1")
    assert entry.reference == "partner:helios" and entry.kind == LedgerEntry.Kind.BONUS
    first = reward_redeem(member=rich, reward=reward)
    reward_redeem(member=rich, reward=reward)
    reward.settlement_value = Decimal("99")  # a later price does not rewrite what was redeemed
    reward.save()
    reward_redeem(member=rich, reward=reward)
    voucher_cancel(voucher=first.voucher, actor=staff_user)
    now = timezone.localtime()
    settlement = partner_settlement(partner=partner, year=now.year, month=now.month)
    assert (settlement.redemptions, settlement.returned, settlement.settled) == (3, 1, 2)
    assert settlement.amount == Decimal("111.50")
    rows = list(partner_settlement_rows(partner=partner, year=now.year, month=now.month))
    assert sum(Decimal(str(row[8])) for row in rows if row[9] == "yes") == settlement.amount
    assert ledger_mismatches() == []
