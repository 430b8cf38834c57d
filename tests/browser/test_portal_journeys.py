"""The member portal's journeys in Debian's Chromium: join, claim a card from a shop, log in with the card, switch
a consent, switch the language, delete the account. Each screen is photographed at phone (390 px) and desktop
(1280 px) width; PORTAL_SCREENSHOTS=docs/screenshots writes them where the README links them."""

import os
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone

from members.models import ConsentEvent, ConsentText, LoyaltyCard, Member
from members.services import LineData, consent_record
from rewards.models import EarningRule, PointsLot, ProgramSettings, Tier
from rewards.services import points_redeem, purchase_post

from .conftest import DESKTOP

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("polish_portal")]

PASSWORD = "secret-pass-1"
NEW_PASSWORD = "Zielona-Herbata-42"
PHONE_390 = {"width": 390, "height": 844}
SIZES = {"phone": PHONE_390, "desktop": DESKTOP}
CARD = "2900000077777"


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("PORTAL_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def snap(page, shots: Path, name: str, size: str) -> None:
    page.screenshot(path=shots / f"portal-{name}-{size}.png", full_page=True)


def fits(page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    if overflow > 0:
        wide = page.evaluate(
            "Array.from(document.querySelectorAll('body *')).filter(e => e.getBoundingClientRect().right >"
            " document.documentElement.clientWidth + 1).map(e => e.tagName + '.' + e.className + '#' + e.id"
            " + ' ' + Math.round(e.getBoundingClientRect().right)).slice(0, 12)"
        )
        raise AssertionError(f"the page scrolls sideways by {overflow}px: {wide}")


def open_page(new_page, size):
    if size == "phone":
        return new_page(PHONE_390, is_mobile=True, has_touch=True, device_scale_factor=2)
    return new_page(DESKTOP)


@pytest.fixture
def programme(transactional_db, program, tiers):
    ProgramSettings.objects.filter(pk=1).update(pending_days=14)
    Tier.objects.filter(code="bronze").update(benefits="1 pkt za każdą wydaną złotówkę\nOferty urodzinowe")
    Tier.objects.filter(code="silver").update(
        benefits="1,25 pkt za każdą złotówkę\nDarmowa dostawa zamówień online\nWcześniejszy dostęp do wyprzedaży"
    )
    Tier.objects.filter(code="gold").update(
        benefits="1,5 pkt za każdą złotówkę\nBezpłatna kawa w każdy piątek\nZaproszenia na wydarzenia dla klientów"
    )
    EarningRule.objects.create(
        name="Podwójne punkty na kawę", kind=EarningRule.Kind.MULTIPLIER, multiplier=Decimal("2"), category="kawa"
    )
    for channel in ("email", "sms"):
        for purpose, text in (
            ("marketing", "Zgadzam się na otrzymywanie ofert i kuponów programu."),
            ("profiling", "Zgadzam się na dopasowanie ofert do moich zakupów."),
            ("partners", "Zgadzam się na przekazanie moich danych partnerom programu."),
        ):
            ConsentText.objects.create(channel=channel, purpose=purpose, version="2026-01", text=text)


@pytest.fixture
def till_member(programme, make_member):
    """Enrolled at a till with a card and a year of shopping; no login yet."""
    member = make_member(first_name="Halina", last_name="Wójcik", email="halina@example.pl", phone="+48602333444")
    LoyaltyCard.objects.create(member=member, number=CARD)
    now = timezone.now()
    for n in range(26):
        purchase_post(
            member=member,
            source="pos",
            external_id=f"PAR-{3000 + n}",
            amount=Decimal("45.90") + n * 11,
            purchased_at=now - timedelta(days=360 - n * 13, hours=n),
            store="WAW01",
            lines=[
                LineData(sku="K1", category="kawa", product_name="Kawa ziarnista 1 kg", amount=Decimal("20.00")),
                LineData(sku="M2", category="nabiał", product_name="Mleko 2%", amount=Decimal("25.90") + n * 11),
            ],
        )
    points_redeem(member=member, points=120, reason="Kupon rabatowy 10 zł", idempotency_key="halina-coupon")
    soon = now + timedelta(days=9)
    lot = PointsLot.objects.filter(member=member, remaining__gt=0).order_by("earned_at").first()
    PointsLot.objects.filter(pk=lot.pk).update(expires_at=soon)
    consent_record(member=member, channel="email", purpose="marketing", granted=True, source="admin")
    return member


def log_in(page, identifier, password=PASSWORD):
    page.goto("/logowanie/")
    page.get_by_label("E-mail, telefon lub numer karty").fill(identifier)
    page.get_by_label("Hasło").fill(password)
    page.get_by_role("button", name="Zaloguj się").click()
    page.wait_for_url(re.compile(r"/$"))


@pytest.mark.parametrize("size", SIZES)
def test_a_newcomer_joins_with_a_consent_and_lands_on_the_dashboard(new_page, programme, shots, size):
    page = open_page(new_page, size)
    page.goto("/dolacz/")
    fits(page)
    page.get_by_label("Imię").fill("Zofia")
    page.get_by_label("Nazwisko").fill("Mazur")
    page.get_by_label("E-mail", exact=True).fill("zofia@example.pl")
    page.get_by_label("Hasło").fill(NEW_PASSWORD)
    page.locator("#id_consent_email_marketing").check()
    snap(page, shots, "join", size)
    page.get_by_role("button", name="Dołącz", exact=True).click()
    page.wait_for_url(re.compile(r"/$"))
    assert page.get_by_role("heading", name="Cześć, Zofia!").is_visible()
    assert page.get_by_text("Wysłaliśmy Ci link do potwierdzenia adresu e-mail").is_visible()
    assert page.get_by_test_id("card-qr").locator("svg").is_visible()
    fits(page)
    snap(page, shots, "join-welcome", size)
    member = Member.objects.get(email="zofia@example.pl")
    assert ConsentEvent.objects.filter(member=member, channel="email", purpose="marketing", granted=True).exists()


@pytest.mark.parametrize("size", SIZES)
def test_a_shop_member_claims_the_card_then_logs_in_with_it(new_page, till_member, shots, size):
    page = open_page(new_page, size)
    page.goto("/logowanie/")
    snap(page, shots, "login", size)
    page.get_by_role("link", name="Aktywuj ją online").click()
    page.get_by_label("Numer karty lub członkowski").fill(CARD)
    page.get_by_label("E-mail lub telefon podany w programie").fill("halina@example.pl")
    snap(page, shots, "claim", size)
    page.get_by_role("button", name="Wyślij mi kod").click()
    page.wait_for_url("**/aktywuj/kod/")
    code = re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)
    page.get_by_label("Kod").fill(code)
    page.get_by_label("Wybierz hasło").fill(NEW_PASSWORD)
    snap(page, shots, "claim-code", size)
    page.get_by_role("button", name="Aktywuj").click()
    page.wait_for_url(re.compile(r"/$"))
    till_member.refresh_from_db()
    assert till_member.user is not None and Member.objects.count() == 1
    page.get_by_role("button", name="Wyloguj").click()
    page.wait_for_url("**/logowanie/")

    log_in(page, CARD, NEW_PASSWORD)
    assert page.get_by_role("heading", name="Cześć, Halina!").is_visible()
    assert page.get_by_test_id("card-number").inner_text() == CARD
    expiring = page.get_by_test_id("expiring-dates").inner_text()
    assert re.search(r"pkt dnia \d", expiring), expiring  # with the date
    assert "Co daje poziom" in page.get_by_test_id("next-benefits").inner_text()
    fits(page)
    snap(page, shots, "dashboard", size)

    page.get_by_role("link", name="Historia", exact=True).click()
    page.wait_for_url("**/historia/")
    page.locator("#ledger .more").scroll_into_view_if_needed()
    page.locator("#ledger .entry").nth(20).wait_for()  # the 21st row: the next page arrived
    page.locator("label.chip", has_text="Zakupy").click()
    page.wait_for_url(re.compile(r"type=purchases"))
    page.get_by_role("link", name="Pokaż produkty").first.click()
    page.get_by_test_id("purchase-lines").first.wait_for()
    assert "Kawa ziarnista 1 kg" in page.get_by_test_id("purchase-lines").first.inner_text()
    page.locator("details.entry__why").first.locator("summary").click()
    fits(page)
    snap(page, shots, "history", size)


@pytest.mark.parametrize("size", SIZES)
def test_a_member_switches_a_consent_and_the_language_then_deletes_the_account(new_page, till_member, shots, size):
    till_member.user = None
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(username=f"halina-{size}", password=PASSWORD)
    Member.objects.filter(pk=till_member.pk).update(user=user)
    page = open_page(new_page, size)
    log_in(page, "halina@example.pl")

    page.get_by_role("link", name="Prywatność").click()
    page.wait_for_url("**/zgody/")
    switch = page.locator("#consent-input-sms-marketing")
    assert not switch.is_checked()
    switch.focus()
    page.keyboard.press("Space")  # keyboard works: the switch is a checkbox
    page.locator("#consent-sms-marketing .consent__saved").wait_for()
    assert page.locator("#consent-input-sms-marketing").is_checked()
    assert page.get_by_test_id("consent-history").locator(".timeline__item").count() == 2
    assert ConsentEvent.objects.filter(member=till_member, channel="sms", purpose="marketing", granted=True).exists()
    fits(page)
    snap(page, shots, "privacy", size)
    page.reload()
    assert page.locator("#consent-input-sms-marketing").is_checked()

    page.get_by_role("button", name="EN").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Privacy centre").is_visible()
    page.get_by_role("link", name="Home").click()
    assert page.get_by_role("heading", name="Hello, Halina!").is_visible()
    snap(page, shots, "dashboard-english", size)
    till_member.refresh_from_db()
    assert till_member.preferred_language == "en"
    page.get_by_role("button", name="PL").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "pl"

    page.goto("/zgody/")
    page.get_by_role("link", name="Usuń moje konto…").click()
    page.get_by_label("Twoje hasło").fill(PASSWORD)
    page.get_by_label("Rozumiem, że moje punkty i konto przepadną bezpowrotnie.").check()
    snap(page, shots, "delete", size)
    page.get_by_role("button", name="Usuń moje konto na zawsze").click()
    page.wait_for_url("**/konto-usuniete/")
    assert page.get_by_role("heading", name="Twoje konto zostało usunięte").is_visible()
    till_member.refresh_from_db()
    assert till_member.status == Member.Status.ERASED and till_member.email == ""
