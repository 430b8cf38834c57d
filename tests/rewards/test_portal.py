"""The rewards app's portal pages: the home page's points cards (balance, tier, latest entries), the paginated
history and its HTMX fragment."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from rewards.models import EarningRule, Tier
from rewards.services import points_earn, points_redeem
from tests.factories import EarningRuleFactory, ProgramSettingsFactory, PurchaseFactory, TierFactory

PASSWORD = "secret-pass-1"
pytestmark = pytest.mark.usefixtures("polish_portal")


@pytest.fixture(autouse=True)
def _plain_http(settings):
    """Without DEBUG the settings redirect http to https; the test client speaks plain http."""
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture
def member_a(make_member, program, tiers):
    member = make_member(login=True, first_name="Anna", last_name="Nowak")
    PurchaseFactory(member=member, external_id="A-100", amount=Decimal("250.00"))
    points_earn(member=member, points=40, reason="Powitanie w programie", idempotency_key="a-welcome")
    return member


@pytest.fixture
def member_b(make_member, program, tiers):
    member = make_member(login=True, first_name="Bartek", last_name="Wiśniewski")
    PurchaseFactory(member=member, external_id="B-777", amount=Decimal("1200.00"))
    points_earn(member=member, points=55, reason="Tajny bonus Bartka", idempotency_key="b-secret")
    return member


def login(client, member):
    client.force_login(member.user)
    return client


def add_entries(member, count):
    for n in range(count):
        points_earn(member=member, points=n + 1, reason=f"Wpis {n}", idempotency_key=f"fill:{member.pk}:{n}")


# --- Access --------------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_from_history_to_login(client, db):
    response = client.get(reverse("portal:history"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('portal:login')}?next={reverse('portal:history')}"


def test_history_refuses_post(client, member_a):
    login(client, member_a)
    assert client.post(reverse("portal:history")).status_code == 405


def test_staff_without_membership_gets_the_no_membership_page_on_history(admin_client_):
    response = admin_client_.get(reverse("portal:history"))
    assert response.status_code == 200
    assert "members/portal/no_membership.html" in [t.name for t in response.templates]
    assert reverse("admin:index").encode() in response.content


# --- Home ----------------------------------------------------------------------------------------


def test_home_shows_balance_tier_progress_and_own_entries_only(client, member_a, member_b):
    login(client, member_a)
    response = client.get(reverse("portal:home"))
    assert response.status_code == 200
    standing = response.context["standing"]
    assert standing.balance == 290  # 250 for the purchase + 40 welcome
    assert standing.tier.name == "Brązowy" and standing.next_tier.name == "Srebrny"
    assert standing.progress_percent == 25
    html = response.content.decode()
    assert member_a.member_number in html
    assert "290" in html
    assert "Brązowy" in html
    assert "750" in html and "zł" in html  # 750 PLN more to reach Srebrny
    assert "A-100" in html and "Powitanie w programie" in html
    # Nothing of member B's.
    assert "B-777" not in html and "Tajny bonus Bartka" not in html and member_b.member_number not in html
    assert {entry.member_id for entry in response.context["entries"]} == {member_a.pk}


def test_home_explains_pending_points_and_shows_pending_badge(client, member_a):
    ProgramSettingsFactory(pending_days=14)
    PurchaseFactory(member=member_a, external_id="A-200", amount=Decimal("80"))
    login(client, member_a)
    response = client.get(reverse("portal:home"))
    html = response.content.decode()
    assert response.context["standing"].pending == 80
    assert "okresu na zwrot" in html
    assert "badge--pending" in html


def test_home_shows_points_expiring_within_30_days(client, member_a):
    points_earn(
        member=member_a,
        points=15,
        reason="Stare punkty",
        idempotency_key="a-old",
        at=timezone.now() - timedelta(days=350),
    )
    login(client, member_a)
    response = client.get(reverse("portal:home"))
    assert response.context["expiring_points"] == 15


def test_home_explains_which_rules_gave_the_points(client, member_a):
    EarningRuleFactory(name="Podwójne punkty w weekend", kind=EarningRule.Kind.MULTIPLIER, multiplier=2)
    PurchaseFactory(member=member_a, external_id="A-300", amount=Decimal("100"))
    login(client, member_a)
    html = client.get(reverse("portal:home")).content.decode()
    assert "<details" in html
    assert "Podwójne punkty w weekend" in html


def test_home_shows_points_basis_progress_in_points(client, make_member, program, db):
    TierFactory(code="start", name="Start", rank=0, threshold=Decimal("0"), basis=Tier.Basis.POINTS)
    TierFactory(code="vip", name="VIP", rank=1, threshold=Decimal("500"), basis=Tier.Basis.POINTS)
    member = make_member(login=True)
    PurchaseFactory(member=member, external_id="P-1", amount=Decimal("100"))
    login(client, member)
    html = client.get(reverse("portal:home")).content.decode()
    assert "400 pkt</strong> do poziomu VIP" in html


def test_home_negative_entries_are_shown_as_minus(client, member_a):
    points_redeem(member=member_a, points=30, reason="Kupon 10 zł", idempotency_key="a-redeem")
    login(client, member_a)
    html = client.get(reverse("portal:home")).content.decode()
    assert "points--minus" in html and "&minus;30" in html


def test_home_lists_the_last_ten_entries(client, member_a):
    add_entries(member_a, 15)
    login(client, member_a)
    response = client.get(reverse("portal:home"))
    assert len(response.context["entries"]) == 10


def test_home_draws_the_points_cards_in_order(client, member_a):
    login(client, member_a)
    response = client.get(reverse("portal:home"))
    # members' membership card sits between the balance and the tier (loyalty_site.portal orders them).
    assert [card.name for card in response.context["cards"]] == ["balance", "membership_card", "tier", "recent"]
    html = response.content.decode()
    assert html.index('class="card balance"') < html.index('class="card tier"') < html.index('class="card recent"')
    templates = [t.name for t in response.templates]
    for card in ("balance", "tier", "recent"):
        assert f"rewards/partials/_card_{card}.html" in templates


def test_home_leaves_the_tier_card_out_when_the_programme_has_no_tiers(client, make_member, program):
    member = make_member(login=True)
    PurchaseFactory(member=member, external_id="N-1", amount=Decimal("30"))
    login(client, member)
    response = client.get(reverse("portal:home"))
    assert [card.name for card in response.context["cards"]] == ["balance", "membership_card", "recent"]
    assert 'class="card tier"' not in response.content.decode()
    assert 'data-testid="balance"' in response.content.decode()


def test_home_of_a_new_member_says_there_are_no_points_yet(client, make_member, program, tiers):
    member = make_member(login=True)
    login(client, member)
    html = client.get(reverse("portal:home")).content.decode()
    assert "Nie masz jeszcze żadnych punktów" in html


def _home_queries(client, member):
    login(client, member)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("portal:home"))
    assert response.status_code == 200
    return len(captured)


def test_home_query_count_does_not_grow_with_history(
    client, make_member, program, tiers, django_assert_max_num_queries
):
    small = make_member(login=True)
    add_entries(small, 5)
    big = make_member(login=True)
    add_entries(big, 200)
    small_count = _home_queries(client, small)
    big_count = _home_queries(client, big)
    assert small_count == big_count
    login(client, big)
    # session, user, member, standing (4), expiring, entries, recommended rewards (rewards.portal_catalog),
    # the engagement programme's version (its challenges card reads its cached copy)
    with django_assert_max_num_queries(12):
        client.get(reverse("portal:home"))


# --- History -------------------------------------------------------------------------------------


def test_history_is_paginated_by_twenty(client, member_a):
    add_entries(member_a, 43)  # 45 entries with the fixture's two
    login(client, member_a)
    first = client.get(reverse("portal:history"))
    assert first.status_code == 200
    page = first.context["page"]
    assert len(page.object_list) == 20 and page.paginator.num_pages == 3
    assert b"<html" in first.content
    assert "rewards/portal/history.html" in [t.name for t in first.templates]
    assert b'href="?page=2"' in first.content
    last = client.get(reverse("portal:history"), {"page": 3})
    assert len(last.context["page"].object_list) == 5


def test_history_ignores_a_bad_page_number(client, member_a):
    login(client, member_a)
    response = client.get(reverse("portal:history"), {"page": "abc"})
    assert response.status_code == 200 and response.context["page"].number == 1
    response = client.get(reverse("portal:history"), {"page": "999"})
    assert response.status_code == 200 and response.context["page"].number == 1


def test_history_htmx_request_gets_only_the_list_fragment(client, member_a):
    add_entries(member_a, 25)
    login(client, member_a)
    response = client.get(reverse("portal:history"), {"page": 2}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html and "<body" not in html
    assert 'class="entry entry--' in html and 'id="ledger"' not in html  # rows appended to the page's list
    assert response.templates[0].name == "rewards/partials/_ledger_rows.html"
    assert len(response.context["page"].object_list) == 7
    assert "HX-Request" in response["Vary"]


def test_history_boosted_or_history_restore_requests_get_the_full_page(client, member_a):
    login(client, member_a)
    boosted = client.get(reverse("portal:history"), HTTP_HX_REQUEST="true", HTTP_HX_BOOSTED="true")
    assert b"<html" in boosted.content
    restore = client.get(reverse("portal:history"), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert b"<html" in restore.content


def test_history_shows_only_the_members_own_entries(client, member_a, member_b):
    add_entries(member_b, 30)
    login(client, member_a)
    response = client.get(reverse("portal:history"))
    assert {entry.member_id for entry in response.context["page"].object_list} == {member_a.pk}
    assert response.context["page"].paginator.count == 2
    assert b"Tajny bonus Bartka" not in response.content


def test_history_query_count_does_not_grow_with_page_size(client, make_member, program, tiers):
    small = make_member(login=True)
    add_entries(small, 3)
    big = make_member(login=True)
    add_entries(big, 60)
    counts = []
    for member in (small, big):
        login(client, member)
        with CaptureQueriesContext(connection) as captured:
            client.get(reverse("portal:history"))
        counts.append(len(captured))
    assert counts[0] == counts[1]
