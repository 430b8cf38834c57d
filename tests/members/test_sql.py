"""The members app's hand-written SQL (members.sql): a purchase and its lines in one statement."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from members.models import Purchase, PurchaseLine
from members.services import LineData
from members.sql import purchase_insert

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="data-modifying WITH: PostgreSQL"),
]


def new_purchase(member, external_id, amount="120.00"):
    return Purchase(
        member=member,
        source="till",
        external_id=external_id,
        store="Kraków 1",
        purchased_at=timezone.now(),
        amount=Decimal(amount),
    )


def test_a_purchase_and_its_lines_are_written_in_one_statement(member):
    purchase = new_purchase(member, "R-1")
    lines = [
        LineData(sku="SKU-1", amount=Decimal("100.00"), category="Nabiał", product_name="Masło ekstra"),
        LineData(sku="SKU-2", amount=Decimal("20.00"), quantity=Decimal("1.500")),
    ]
    with CaptureQueriesContext(connection) as queries:
        assert purchase_insert(purchase, lines) is True
    assert len(queries) == 1
    assert purchase.pk is not None and not purchase._state.adding and purchase.created_at is not None
    stored = Purchase.objects.get(pk=purchase.pk)
    assert (stored.member_id, stored.amount, stored.refunded_amount, stored.store) == (
        member.pk,
        Decimal("120.00"),
        Decimal("0"),
        "Kraków 1",
    )
    assert list(
        PurchaseLine.objects.filter(purchase=stored)
        .order_by("sku")
        .values_list("sku", "product_name", "category", "quantity", "amount")
    ) == [
        ("SKU-1", "Masło ekstra", "Nabiał", Decimal("1.000"), Decimal("100.00")),
        ("SKU-2", "", "", Decimal("1.500"), Decimal("20.00")),
    ]


def test_a_purchase_without_lines_has_none(member):
    purchase = new_purchase(member, "R-2")
    assert purchase_insert(purchase, []) is True
    assert not PurchaseLine.objects.filter(purchase_id=purchase.pk).exists()


def test_a_purchase_recorded_already_writes_nothing_not_even_its_lines(member, make_member):
    assert purchase_insert(new_purchase(member, "R-3"), []) is True
    again = new_purchase(make_member(), "R-3", amount="999.00")
    assert purchase_insert(again, [LineData(sku="X", amount=Decimal("1.00"))]) is False
    assert again.pk is None
    assert Purchase.objects.filter(external_id="R-3").count() == 1
    assert not PurchaseLine.objects.filter(sku="X").exists()
