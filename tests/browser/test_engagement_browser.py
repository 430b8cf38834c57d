"""The engagement pages in a real browser: the challenges with progress bars, the leaderboard opt-in through
HTMX (CSRF header from base.html), and refer-a-friend's copy button from the static script (no inline script)."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from rewards.engagement.models import Challenge, LeaderboardProfile
from rewards.services import purchase_post

from .conftest import PHONE

pytestmark = pytest.mark.browser

PASSWORD = "secret-pass-1"


@pytest.fixture
def player(transactional_db, make_member, program, tiers):
    member = make_member(login=True, first_name="Anna", last_name="Nowak")
    now = timezone.now()
    Challenge.objects.create(
        code="trzy",
        name="Trzy zakupy",
        kind="purchases",
        target=Decimal("3"),
        points=100,
        starts_at=now - timedelta(days=5),
        ends_at=now + timedelta(days=5),
    )
    purchase_post(
        member=member, source="pos", external_id="E-1", amount=Decimal("40"), purchased_at=now - timedelta(hours=2)
    )
    return member


def log_in(page, member):
    page.goto("/logowanie/")
    page.fill("input[name=username]", member.user.username)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.form button[type=submit]")  # the login form's, not the header's language switch
    page.wait_for_url(re.compile(r"/$"))


def test_challenges_leaderboard_and_referral_link(new_page, player, screenshot_dir):
    page = new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    log_in(page, player)
    assert page.get_by_test_id("fraction").first.inner_text().startswith("1 ")
    page.goto("/wyzwania/")
    assert page.locator("progress.engage-progress").first.get_attribute("value") == "33"
    page.screenshot(path=str(screenshot_dir / "engagement_challenges.png"), full_page=True)

    page.goto("/ranking/")
    page.locator("#id_display_name").fill("Kawowa Mewa")
    page.locator("#id_opted_in").check()
    page.locator("#leaderboard-profile button[type=submit]").click()
    page.locator("#leaderboard-profile [role=status]").wait_for()
    assert page.url.endswith("/ranking/")  # swapped in place by HTMX, with the CSRF header of base.html
    assert LeaderboardProfile.objects.get(member=player).display_name == "Kawowa Mewa"

    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto("/polec/")
    page.get_by_role("button", name=re.compile("Kopiuj|Copy")).click()
    page.locator("[data-share-status]").filter(has_text=re.compile(".+")).wait_for()
    assert player.referral_code in page.locator("#referral-link").input_value()
    page.screenshot(path=str(screenshot_dir / "engagement_refer.png"), full_page=True)
    assert not errors, errors


def test_engagement_pages_fit_a_phone(new_page, player):
    page = new_page(PHONE)
    log_in(page, player)
    for path in ("/wyzwania/", "/odznaki/", "/ranking/", "/polec/"):
        page.goto(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, path
