"""The member portal's catalog, redeem flow and vouchers: filters, htmx fragments, CSRF, own vouchers only."""

import pytest
from django.test import Client
from django.urls import reverse

from rewards.models import PointsAccount, Voucher
from rewards.redemption import reward_redeem
from rewards.services import points_earn
from tests.factories import CategoryFactory, RewardFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def anna(make_member, program):
    member = make_member(login=True, first_name="Anna")
    points_earn(member=member, points=300, reason="start", idempotency_key=f"start:{member.pk}")
    return member


@pytest.fixture
def catalog(db):
    cinema = CategoryFactory(code="kino", name="Kino")
    food = CategoryFactory(code="jedzenie", name="Jedzenie")
    ticket = RewardFactory(code="bilet", name="Bilet do kina", kind="experience", points_cost=250)
    ticket.categories.add(cinema)
    coffee = RewardFactory(code="kawa", name="Kawa", kind="product", points_cost=50)
    coffee.categories.add(food)
    RewardFactory(code="rower", name="Rower", kind="product", points_cost=5000)
    RewardFactory(code="stary", name="Wycofana", kind="product", points_cost=10, is_active=False)
    return {"ticket": ticket, "coffee": coffee}


def names(response):
    return [reward.name for reward in response.context["page"].object_list]


def test_catalog_lists_offered_rewards_with_filters(client, anna, catalog, django_assert_max_num_queries):
    client.force_login(anna.user)
    with django_assert_max_num_queries(12):
        page = client.get(reverse("portal:catalog"))
    assert names(page) == ["Kawa", "Bilet do kina", "Rower"]
    assert "catalog-filters" in page.content.decode()
    assert names(client.get(reverse("portal:catalog"), {"category": "kino"})) == ["Bilet do kina"]
    assert names(client.get(reverse("portal:catalog"), {"min": "100", "max": "1000"})) == ["Bilet do kina"]
    assert names(client.get(reverse("portal:catalog"), {"affordable": "1"})) == ["Kawa", "Bilet do kina"]
    assert names(client.get(reverse("portal:catalog"), {"min": "abc"})) == ["Kawa", "Bilet do kina", "Rower"]
    fragment = client.get(reverse("portal:catalog"), {"category": "kino"}, **HTMX)
    assert fragment.templates[0].name == "rewards/partials/_catalog_list.html"
    assert "<html" not in fragment.content.decode()


def test_redeem_confirm_then_result_in_place(client, anna, catalog):
    client.force_login(anna.user)
    url = reverse("portal:reward_redeem", args=["bilet"])
    detail = client.get(reverse("portal:reward", args=["bilet"]))
    assert url in detail.content.decode()
    confirm = client.get(url, **HTMX)
    assert confirm.templates[0].name == "rewards/partials/_catalog_confirm.html"
    token = confirm.context["token"]
    result = client.post(url, {"token": token}, **HTMX)
    assert result.templates[0].name == "rewards/partials/_catalog_result.html"
    body = result.content.decode()
    voucher = Voucher.objects.get(member=anna)
    assert voucher.code in body and "<svg" in body and "50" in body
    again = client.post(url, {"token": token}, **HTMX)  # a double submit: the same voucher
    assert again.context["voucher"].pk == voucher.pk
    assert PointsAccount.objects.get(member=anna).balance == 50
    refused = client.post(url, {"token": "another"}, **HTMX)
    assert "You need 250 points" in refused.content.decode()


def test_redeem_needs_csrf(anna, catalog):
    client = Client(enforce_csrf_checks=True)
    client.force_login(anna.user)
    response = client.post(reverse("portal:reward_redeem", args=["kawa"]), {"token": "x"}, **HTMX)
    assert response.status_code == 403
    assert not Voucher.objects.exists()


def test_redeem_without_javascript_shows_pages(client, anna, catalog):
    client.force_login(anna.user)
    url = reverse("portal:reward_redeem", args=["kawa"])
    assert client.get(url).templates[0].name == "rewards/portal/catalog_confirm.html"
    result = client.post(url, {"token": "t1"})
    assert result.templates[0].name == "rewards/portal/catalog_result.html"


def test_vouchers_page_only_own_and_past_apart(client, anna, make_member, catalog, staff_user):
    from rewards.redemption import voucher_use

    other = make_member(login=True)
    points_earn(member=other, points=100, reason="start", idempotency_key="other")
    theirs = reward_redeem(member=other, reward=catalog["coffee"]).voucher
    mine = reward_redeem(member=anna, reward=catalog["coffee"]).voucher
    used = reward_redeem(member=anna, reward=catalog["coffee"]).voucher
    voucher_use(voucher=used, actor=staff_user)
    client.force_login(anna.user)
    page = client.get(reverse("portal:vouchers"))
    assert [v.pk for v in page.context["active"]] == [mine.pk]
    assert [v.pk for v in page.context["past"]] == [used.pk]
    body = page.content.decode()
    assert theirs.code not in body and "<svg" in body
    assert client.get(reverse("portal:voucher", args=[mine.pk])).status_code == 200
    assert client.get(reverse("portal:voucher", args=[theirs.pk])).status_code == 404


def test_home_shows_recommended_rewards_and_nav(client, anna, catalog):
    client.force_login(anna.user)
    home = client.get(reverse("portal:home"))
    body = home.content.decode()
    assert 'data-testid="recommended"' in body and "Bilet do kina" in body
    assert reverse("portal:catalog") in body and reverse("portal:vouchers") in body
