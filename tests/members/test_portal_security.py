"""The portal's cross-cutting guarantees: members see only their own objects (404 for anyone else's, whatever the
method, page or fragment), every htmx change needs the CSRF header, every page carries a Content-Security-Policy
with a nonce and no inline style, and the dashboard and history cost a fixed number of queries."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from members.models import DataExport, LoyaltyCard
from members.services import LineData, consent_record
from rewards.models import PointsLot
from rewards.services import points_earn, purchase_post

pytestmark = pytest.mark.usefixtures("polish_portal")  # the portal's Polish, from its fragment

METHODS = ["get", "post", "put", "patch", "delete", "head", "options"]
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def anna(make_member, program, tiers):
    member = make_member(login=True, first_name="Anna", email="anna@example.pl")
    LoyaltyCard.objects.create(member=member, number="2900000011111")
    purchase_post(
        member=member,
        source="pos",
        external_id="A-1",
        amount=Decimal("80.00"),
        lines=[LineData(sku="S1", amount=Decimal("80.00"), product_name="Tajny produkt Anny")],
    )
    points_earn(member=member, points=15, reason="Sekretny bonus Anny", idempotency_key="anna-secret")
    consent_record(member=member, channel="email", purpose="marketing", granted=True, source="portal")
    return member


@pytest.fixture
def bartek(make_member, program, tiers):
    return make_member(login=True, first_name="Bartek", email="bartek@example.pl")


def annas_objects(anna):
    purchase = anna.purchases.get()
    export = DataExport.objects.create(
        member=anna,
        format="json",
        status=DataExport.Status.DONE,
        finished_at=timezone.now(),
        file="member_exports/x.json",
    )
    return {
        "purchase": reverse("portal:history_purchase", args=[purchase.pk]),
        "data export status": reverse("portal:data_export_status", args=[export.pk]),
        "data export download": reverse("portal:data_export_download", args=[export.pk]),
    }


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("fragment", [False, True], ids=["page", "fragment"])
def test_member_b_gets_404_for_each_of_member_as_objects(client, anna, bartek, method, fragment):
    client.force_login(bartek.user)
    headers = HTMX if fragment else {}
    for name, url in annas_objects(anna).items():
        response = getattr(client, method)(url, **headers)
        assert response.status_code == 404, (name, method, response.status_code)


def test_member_b_never_sees_member_as_ledger_entries_or_consents(client, anna, bartek):
    client.force_login(bartek.user)
    pages = [
        client.get(reverse("portal:history")),
        client.get(reverse("portal:history"), {"type": "purchases"}, **HTMX),
        client.get(reverse("portal:history"), {"page": 2}, **HTMX),
        client.get(reverse("portal:home")),
        client.get(reverse("portal:privacy")),
        client.get(reverse("portal:consent_history")),
        client.get(reverse("portal:consent_history"), **HTMX),
        client.post(reverse("portal:data_export"), {"format": "json"}),
    ]
    for response in pages:
        content = response.content.decode()
        assert "Sekretny bonus Anny" not in content and "A-1" not in content and "anna@example.pl" not in content
    consents = [r for r in pages if "consent-history" in r.content.decode()]
    assert consents and all('class="timeline__item"' not in r.content.decode() for r in consents)


def test_the_owner_gets_her_purchase_and_405_for_other_methods(client, anna):
    client.force_login(anna.user)
    url = annas_objects(anna)["purchase"]
    fragment = client.get(url, **HTMX)
    assert fragment.status_code == 200 and "Tajny produkt Anny" in fragment.content.decode()
    assert "<html" not in fragment.content.decode()
    assert "<html" in client.get(url).content.decode()
    assert client.post(url).status_code == 405


# --- CSRF on every htmx change -----------------------------------------------------------------------


def htmx_changes(member):
    return [
        (reverse("portal:consent_toggle", args=["email", "marketing"]), {"granted": "1"}),
        (reverse("portal:set_language"), {"language": "en", "next": "/"}),
        (reverse("portal:data_export"), {"format": "json"}),
        (reverse("portal:verify_email_resend"), {}),
        (reverse("portal:logout"), {}),
    ]


def test_every_htmx_change_is_refused_without_the_csrf_header_and_accepted_with_it(anna):
    for url, data in htmx_changes(anna):
        client = Client(enforce_csrf_checks=True)
        client.force_login(anna.user)
        page = client.get(reverse("portal:privacy"))
        token = re.search(r'hx-headers=\'\{"x-csrftoken": "([^"]+)"\}\'', page.content.decode()).group(1)
        refused = client.post(url, data, **HTMX)
        assert refused.status_code == 403, url
        accepted = client.post(url, data, HTTP_X_CSRFTOKEN=token, **HTMX)
        assert accepted.status_code in (200, 204, 302), (url, accepted.status_code)


# --- Content-Security-Policy ---------------------------------------------------------------------------


def portal_pages(anna):
    return [
        reverse("portal:home"),
        reverse("portal:history"),
        reverse("portal:profile"),
        reverse("portal:privacy"),
        reverse("portal:consent_history"),
        reverse("portal:account_delete"),
        reverse("portal:history_purchase", args=[anna.purchases.get().pk]),
    ]


def public_pages():
    return [
        reverse("portal:login"),
        reverse("portal:signup"),
        reverse("portal:claim"),
        reverse("portal:password_reset"),
        reverse("portal:password_reset_done"),
        reverse("portal:account_deleted"),
    ]


def test_every_page_has_a_csp_with_a_nonce_and_no_inline_script_or_style(client, anna):
    visitor = Client()
    client.force_login(anna.user)
    urls = [(visitor, url) for url in public_pages()] + [(client, url) for url in portal_pages(anna)]
    for browser, url in urls:
        response = browser.get(url)
        assert response.status_code == 200, url
        policy = response["Content-Security-Policy"]
        nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
        assert "script-src 'self' 'nonce-" in policy and "'unsafe-inline'" not in policy
        html = response.content.decode()
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert f'nonce="{nonce}"' in tag or "src=" in tag, (url, tag)
        assert "<style" not in html and "style=" not in html, url
    # A fresh nonce per response.
    home = reverse("portal:home")
    assert client.get(home)["Content-Security-Policy"] != client.get(home)["Content-Security-Policy"]


def test_the_staff_admin_keeps_a_csp_that_allows_its_inline_styles_only(client, staff_user):
    client.force_login(staff_user)
    policy = client.get(reverse("admin:index"))["Content-Security-Policy"]
    assert "style-src 'self' 'unsafe-inline'" in policy and "'nonce-" in policy
    assert re.search(r"script-src 'self' 'nonce-[^']+'(;|$)", policy)


# --- Fixed queries ---------------------------------------------------------------------------------------


def add_history(member, purchases: int):
    now = timezone.now()
    for n in range(purchases):
        purchase_post(
            member=member,
            source="pos",
            external_id=f"{member.pk}-{n}",
            amount=Decimal("50.00"),
            purchased_at=now - timedelta(days=n),
            lines=[LineData(sku="X", amount=Decimal("50.00"))],
        )
    # Some points expire soon, on two different days.
    lots = list(PointsLot.objects.filter(member=member)[:2])
    for offset, lot in enumerate(lots):
        PointsLot.objects.filter(pk=lot.pk).update(expires_at=now + timedelta(days=5 + offset))


@pytest.mark.parametrize("url", ["portal:home", "portal:history"])
def test_dashboard_and_history_run_the_same_queries_whatever_the_history(
    client, make_member, program, tiers, django_assert_num_queries, url
):
    small = make_member(login=True)
    add_history(small, 3)
    big = make_member(login=True)
    add_history(big, 60)
    counts = []
    for member in (small, big):
        client.force_login(member.user)
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse(url)).status_code == 200
        counts.append(len(captured))
    assert counts[0] == counts[1]
    client.force_login(big.user)
    with django_assert_num_queries(counts[1]):
        client.get(reverse(url))
    if url == "portal:history":  # the next page, as scrolling loads it, and a filtered page
        with django_assert_num_queries(counts[1]):
            client.get(reverse(url), {"page": 2}, **HTMX)
        with django_assert_num_queries(counts[1]):
            client.get(reverse(url), {"type": "purchases", "from": "2020-01-01"}, **HTMX)
