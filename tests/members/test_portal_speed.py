"""What keeps the portal's pages cheap stays correct: ledger entries drawn once per process show in the reader's
language and new entries at once; the login's member comes with the user; the catalog, the vouchers, a purchase's
lines and a redemption cost a fixed number of queries whatever their size; /favicon.ico is served."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from members.services import LineData
from rewards.models import Reward
from rewards.redemption import reward_redeem
from rewards.services import points_earn, purchase_post
from rewards.templatetags.ledger import forget_drawn_entries

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _nothing_drawn_yet():
    forget_drawn_entries()
    yield
    forget_drawn_entries()


@pytest.fixture
def ewa(make_member, program, tiers):
    member = make_member(login=True, first_name="Ewa")
    purchase_post(
        member=member,
        source="pos",
        external_id="E-1",
        amount=Decimal("120.00"),
        lines=[LineData(sku="S1", amount=Decimal("120.00"), product_name="Herbata")],
    )
    return member


def queries(client, *args, **kwargs) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(*args, **kwargs)
    assert response.status_code == 200
    return len(captured)


def test_drawn_entries_follow_the_language_and_new_entries_show_at_once(client, ewa):
    client.force_login(ewa.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.get(reverse("portal:history")).content.decode()
    assert "Purchase of 120.00 zł" in english
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "pl"
    polish = client.get(reverse("portal:history")).content.decode()
    assert "Purchase of" not in polish and "120,00" in polish
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert client.get(reverse("portal:history")).content.decode().count("Purchase of 120.00 zł") == 1
    points_earn(member=ewa, points=7, reason="A welcome gift", idempotency_key="ewa-gift")
    for url in ("portal:history", "portal:home"):
        assert "A welcome gift" in client.get(reverse(url)).content.decode()


def test_an_expiry_reads_the_same_in_the_history_and_on_the_dashboard(client, ewa):
    """The history names the lot an expiry took; the dashboard's latest activity does not read lots. Each page
    shows its own drawing, whichever was drawn first."""
    from rewards.models import LedgerEntry, PointsLot

    lot = PointsLot.objects.filter(member=ewa).first()
    LedgerEntry.objects.create(
        member=ewa, kind="expire", bucket="available", points=-1, reason_code="expired", reference=f"lot:{lot.pk}"
    )
    client.force_login(ewa.user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    history = client.get(reverse("portal:history")).content.decode()
    assert 'data-testid="expired-from"' in history
    home = client.get(reverse("portal:home")).content.decode()
    assert 'data-testid="expired-from"' not in home and "Points expired" in home
    assert 'data-testid="expired-from"' in client.get(reverse("portal:history")).content.decode()


def test_one_members_drawn_entries_never_show_to_another(client, ewa, make_member):
    other = make_member(login=True, first_name="Olga")
    client.force_login(ewa.user)
    assert "E-1" in client.get(reverse("portal:history")).content.decode()
    client.force_login(other.user)
    assert "E-1" not in client.get(reverse("portal:history")).content.decode()


def test_the_logins_member_comes_with_the_user(client, ewa):
    """Session, then the user with their member in one query: a purchase's lines cost 5 queries in all."""
    client.force_login(ewa.user)
    purchase = ewa.purchases.get()
    assert queries(client, reverse("portal:history_purchase", args=[purchase.pk]), **HTMX) == 5


def test_catalog_vouchers_and_lines_cost_the_same_whatever_their_size(client, ewa, make_member, program):
    points_earn(member=ewa, points=5000, reason="start", idempotency_key="ewa-start")
    Reward.objects.create(code="r-0", name="Reward 0", kind="product", points_cost=10)
    client.force_login(ewa.user)
    small = {
        "catalog": queries(client, reverse("portal:catalog")),
        "catalog fragment": queries(client, reverse("portal:catalog"), {"affordable": "1"}, **HTMX),
    }
    reward_redeem(member=ewa, reward=Reward.objects.get(code="r-0"))
    small["vouchers"] = queries(client, reverse("portal:vouchers"))
    for n in range(1, 15):
        Reward.objects.create(code=f"r-{n}", name=f"Reward {n}", kind="voucher", points_cost=10 + n)
    for n in range(1, 6):
        reward_redeem(member=ewa, reward=Reward.objects.get(code=f"r-{n}"))
    big = {
        "catalog": queries(client, reverse("portal:catalog")),
        "catalog fragment": queries(client, reverse("portal:catalog"), {"affordable": "1"}, **HTMX),
        "vouchers": queries(client, reverse("portal:vouchers")),
    }
    assert small == big
    assert big == {"catalog": 6, "catalog fragment": 5, "vouchers": 4}

    many_lines = purchase_post(
        member=ewa,
        source="pos",
        external_id="E-2",
        amount=Decimal("60.00"),
        purchased_at=timezone.now() - timedelta(hours=1),
        lines=[LineData(sku=f"S{n}", amount=Decimal("5.00")) for n in range(12)],
    )
    one_line = ewa.purchases.get(external_id="E-1")
    counts = {
        queries(client, reverse("portal:history_purchase", args=[purchase.pk]), **HTMX)
        for purchase in (one_line, many_lines.purchase)
    }
    assert len(counts) == 1


def test_favicon_is_served(client, db):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert response.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert "max-age=86400" in response["Cache-Control"]
    assert reverse("portal:favicon") == "/favicon.ico"
