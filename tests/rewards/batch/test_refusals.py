"""What the batch refuses (an unknown or inactive member, a bad amount, a receipt recorded for another
member), named by the row as given, while the rest of the batch is posted; and what it records without points."""

from decimal import Decimal

from django.utils import timezone

from members.models import Member, Purchase, PurchaseLine
from rewards.batch import purchases_post_batch
from rewards.models import PointsAccount
from rewards.selectors import ledger_mismatches
from tests.factories import EarningRuleFactory, LineFactory, MemberFactory, PurchaseFactory, PurchaseRowFactory


def test_unknown_and_inactive_members_are_refused_and_named(program):
    active, suspended = MemberFactory(), MemberFactory(status=Member.Status.SUSPENDED)
    now = timezone.now()
    rows = [
        PurchaseRowFactory(member=suspended, external_id="S1", amount=Decimal("10"), purchased_at=now),
        PurchaseRowFactory(member=active, external_id="A1", amount=Decimal("10"), purchased_at=now),
        PurchaseRowFactory(member_id=999_999, external_id="U1", amount=Decimal("10"), purchased_at=now),
    ]

    result = purchases_post_batch(rows, now=now)

    assert (result.created, result.refused) == (1, 2)
    assert [(r.index, r.external_id) for r in result.refusals] == [(0, "S1"), (2, "U1")]
    assert result.refusals[0].reason == f"Członek {suspended.member_number} jest zawieszony."
    assert result.refusals[1].reason == "Brak członka o identyfikatorze 999999."
    assert not PointsAccount.objects.filter(member=suspended).exists()
    assert not Purchase.objects.filter(external_id__in=["S1", "U1"]).exists()


def test_invalid_amounts_are_refused_and_the_rest_posted(member, program):
    now = timezone.now()
    rows = [
        PurchaseRowFactory(member=member, external_id="NEG", amount=Decimal("-5"), purchased_at=now),
        PurchaseRowFactory(
            member=member,
            external_id="LINES",
            amount=Decimal("10"),
            purchased_at=now,
            lines=(LineFactory(sku="A", amount=Decimal("8")), LineFactory(sku="B", amount=Decimal("8"))),
        ),
        PurchaseRowFactory(member=member, external_id="OK", amount=Decimal("25"), purchased_at=now),
        # The refused row's id is free: a corrected row later in the batch is posted.
        PurchaseRowFactory(member=member, external_id="NEG", amount=Decimal("5"), purchased_at=now),
    ]

    result = purchases_post_batch(rows, now=now)

    assert (result.created, result.refused) == (2, 2)
    assert [r.external_id for r in result.refusals] == ["NEG", "LINES"]
    assert result.refusals[1].reason == "Suma kwot pozycji przekracza kwotę zakupu."
    assert PointsAccount.objects.get(member=member).balance == 30


def test_a_purchase_without_points_is_recorded_without_an_entry(member, program):
    EarningRuleFactory(name="Bez alkoholu", kind="exclude", category="Alkohol")
    now = timezone.now()
    row = PurchaseRowFactory(
        member=member,
        external_id="ALK",
        amount=Decimal("60"),
        purchased_at=now,
        lines=(LineFactory(sku="W1", category="Alkohol", amount=Decimal("60")),),
    )

    result = purchases_post_batch([row], now=now)

    assert (result.created, result.entries, result.points) == (1, 0, 0)
    assert PurchaseLine.objects.filter(purchase__external_id="ALK").count() == 1
    assert PointsAccount.objects.get(member=member).balance == 0


def test_a_receipt_recorded_for_another_member_is_refused_not_skipped(program):
    first, second = MemberFactory.create_batch(2)
    now = timezone.now()
    PurchaseFactory(member=first, source="pos", external_id="R-1", amount=Decimal("40"), purchased_at=now)
    rows = [
        PurchaseRowFactory(member=second, source="pos", external_id="R-1", amount=Decimal("40"), purchased_at=now),
        PurchaseRowFactory(member=second, source="pos", external_id="R-2", amount=Decimal("30"), purchased_at=now),
        PurchaseRowFactory(member=first, source="pos", external_id="R-2", amount=Decimal("30"), purchased_at=now),
        PurchaseRowFactory(member=first, source="pos", external_id="R-1", amount=Decimal("40"), purchased_at=now),
    ]

    result = purchases_post_batch(rows, now=now)

    assert (result.created, result.skipped, result.refused) == (1, 1, 2)
    assert [(r.index, r.about) for r in result.refusals] == [(0, "external_id"), (2, "external_id")]
    assert result.refusals[0].reason == f"Zakup R-1 ze źródła pos jest już zapisany dla członka {first.member_number}."
    assert result.refusals[1].reason.endswith(f"dla członka {second.member_number}.")
    assert PointsAccount.objects.get(member=second).balance == 30
    assert ledger_mismatches() == []
