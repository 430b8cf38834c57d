"""The member portal in a real browser: log in, read the balance, page through history with HTMX, log out; a card
and a link another app registers take their place on both screens."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loyalty_site import portal
from members.services import LineData
from rewards.models import EarningRule, ProgramSettings, Tier
from rewards.services import points_earn, points_redeem, purchase_post

from .conftest import DESKTOP, PHONE

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("polish_portal")]

PASSWORD = "secret-pass-1"


@pytest.fixture
def shopper(transactional_db, make_member, program, tiers):
    """A member with a year of purchases: enough history for two pages, some pending and some expiring."""
    ProgramSettings.objects.filter(pk=1).update(pending_days=14)
    Tier.objects.filter(code="bronze").update(benefits="1 pkt za każdą wydaną złotówkę\nOferty urodzinowe")
    Tier.objects.filter(code="silver").update(
        benefits="1,25 pkt za każdą złotówkę\nDarmowa dostawa zamówień online\nWcześniejszy dostęp do wyprzedaży"
    )
    EarningRule.objects.create(
        name="Podwójne punkty na kawę", kind=EarningRule.Kind.MULTIPLIER, multiplier=Decimal("2"), category="kawa"
    )
    member = make_member(login=True, first_name="Anna", last_name="Nowak")
    now = timezone.now()
    for n in range(22):
        days_ago = 370 - n * 16
        purchase_post(
            member=member,
            source="pos",
            external_id=f"PAR-{1000 + n}",
            amount=Decimal("60") + n * 7,
            purchased_at=now - timedelta(days=days_ago, hours=n),
            store="WAW01",
            lines=[
                LineData(sku="K1", category="kawa", amount=Decimal("20")),
                LineData(sku="X1", category="dom", amount=Decimal("40") + n * 7),
            ],
        )
    purchase_post(  # inside the return window: pending
        member=member,
        source="pos",
        external_id="PAR-2000",
        amount=Decimal("149.99"),
        purchased_at=now - timedelta(days=3),
    )
    points_earn(member=member, points=100, reason="Premia powitalna", idempotency_key="welcome", at=now)
    points_redeem(member=member, points=50, reason="Kupon rabatowy 5 zł", idempotency_key="coupon-1")
    return member


def log_in(page, member):
    page.goto("/")
    assert "/logowanie/" in page.url  # anonymous visitors are sent to the login form
    page.get_by_label("E-mail, telefon lub numer karty").fill(member.user.username)
    page.get_by_label("Hasło").fill(PASSWORD)
    page.get_by_role("button", name="Zaloguj się").click()
    page.wait_for_url(re.compile(r"/$"))


def assert_no_horizontal_overflow(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def test_member_logs_in_pages_history_with_htmx_and_logs_out(page, shopper, screenshot_dir):
    log_in(page, shopper)
    balance = page.get_by_test_id("balance")
    assert balance.is_visible()
    assert page.get_by_role("heading", name="Cześć, Anna!").is_visible()
    assert page.get_by_test_id("tier").inner_text() == "Srebrny"
    assert "do poziomu Złoty" in page.get_by_test_id("progress").inner_text()
    page.locator("details.entry__why").first.locator("summary").click()
    page.screenshot(path=screenshot_dir / "home-desktop.png", full_page=True)

    assert page.locator(".site-nav__link[aria-current=page]").inner_text() == "Start"
    page.get_by_role("link", name="Historia", exact=True).click()
    page.wait_for_url("**/historia/")
    assert page.locator(".site-nav__link[aria-current=page]").inner_text() == "Historia"
    first_page_entries = page.locator("#ledger .entry").all_inner_texts()
    assert len(first_page_entries) == 20

    htmx_requests = []
    page.on("request", lambda request: htmx_requests.append(request) if request.headers.get("hx-request") else None)
    page.evaluate("window.__notReloaded = true")
    # Scrolling to the end of the list loads the older entries below it (htmx, "revealed").
    page.locator("#ledger .more").scroll_into_view_if_needed()
    page.locator("#ledger .entry").nth(20).wait_for()  # the 21st row: the next page arrived
    assert page.evaluate("window.__notReloaded") is True
    assert len(htmx_requests) == 1
    assert htmx_requests[0].headers.get("x-csrftoken")
    assert page.locator("#ledger .entry").count() > 20 and page.locator("#ledger .more").count() == 0
    assert page.locator("html").count() == 1 and page.locator("header.site-header").count() == 1
    # A purchase's products, on demand.
    page.get_by_role("link", name="Pokaż produkty").first.click()
    page.get_by_test_id("purchase-lines").first.wait_for()
    page.screenshot(path=screenshot_dir / "history-desktop.png", full_page=True)

    # A POST without the token is refused; the same POST from htmx, which adds the body's hx-headers, logs out.
    status = page.evaluate("fetch('/wyloguj/', {method: 'POST'}).then(response => response.status)")
    assert status == 403
    page.evaluate("htmx.ajax('POST', '/wyloguj/', {source: document.body, swap: 'none'})")
    page.wait_for_url("**/logowanie/")
    page.goto("/")
    assert "/logowanie/" in page.url


def test_portal_fits_a_phone_screen(new_page, shopper, screenshot_dir):
    page = new_page(PHONE, is_mobile=True, has_touch=True)
    page.goto("/logowanie/")
    assert_no_horizontal_overflow(page)
    page.screenshot(path=screenshot_dir / "login-phone.png", full_page=True)
    log_in(page, shopper)
    assert page.get_by_test_id("balance").is_visible()
    assert_no_horizontal_overflow(page)
    page.locator("details.entry__why").first.locator("summary").click()
    page.screenshot(path=screenshot_dir / "home-phone.png", full_page=True)
    page.goto("/historia/")
    assert_no_horizontal_overflow(page)
    page.screenshot(path=screenshot_dir / "history-phone.png", full_page=True)


def test_staff_without_membership_sees_the_admin_link(new_page, django_user_model, browser_settings, screenshot_dir):
    django_user_model.objects.create_user(username="kierownik", password=PASSWORD, is_staff=True)
    page = new_page(DESKTOP)
    page.goto("/logowanie/")
    page.get_by_label("E-mail, telefon lub numer karty").fill("kierownik")
    page.get_by_label("Hasło").fill(PASSWORD)
    page.get_by_role("button", name="Zaloguj się").click()
    page.get_by_role("link", name="Przejdź do panelu personelu").wait_for()
    page.screenshot(path=screenshot_dir / "no-membership-desktop.png", full_page=True)


@pytest.fixture
def survey_app(settings, tmp_path):
    """A card and a link of a pretend app above rewards (campaigns' surveys, say), removed afterwards."""
    folder = tmp_path / "templates"
    (folder / "tests" / "portal").mkdir(parents=True)
    (folder / "tests" / "portal" / "_survey_card.html").write_text(
        '<section class="card survey" data-testid="survey"><h2 class="card__title">Ankieta</h2>'
        "<p>Trzy pytania o Twoje ostatnie zakupy.</p></section>"
    )
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], folder]}]
    portal.nav_entry("surveys", "Ankiety", "portal:history", order=15)
    portal.dashboard_card("survey", "tests/portal/_survey_card.html", lambda request, member: {}, order=25)
    try:
        yield
    finally:
        portal.nav_entry_remove("surveys")
        portal.dashboard_card_remove("survey")


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_a_card_and_a_link_another_app_registers_fit_the_dashboard(new_page, shopper, survey_app, viewport):
    page = new_page(viewport)
    log_in(page, shopper)
    survey, tier, recent = (page.locator(f".dashboard > .card.{name}") for name in ("survey", "tier", "recent"))
    assert survey.is_visible() and page.get_by_role("link", name="Ankiety").is_visible()
    # In the grid after the tier card and before the latest entries, which keep the full width.
    assert tier.bounding_box()["y"] <= survey.bounding_box()["y"] < recent.bounding_box()["y"]
    assert recent.bounding_box()["width"] >= survey.bounding_box()["width"]
    assert_no_horizontal_overflow(page)
