"""The segment editor in a real browser: the live count (htmx, CSRF header) follows the rules as staff type them,
including the challenge-progress rule; no console error, no Content-Security-Policy violation."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from rewards.engagement.models import Challenge, ChallengeCompletion

from .conftest import DESKTOP
from .staff import create_superuser, log_in

pytestmark = pytest.mark.browser

CSP_LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""


@pytest.fixture
def people(transactional_db, make_member, program):
    create_superuser()
    members = [make_member(city="Kraków") for _ in range(3)] + [make_member(city="Gdańsk") for _ in range(2)]
    now = timezone.now()
    challenge = Challenge.objects.create(
        code="trzy",
        name="Trzy zakupy",
        kind=Challenge.Kind.PURCHASES,
        target=Decimal("3"),
        points=100,
        starts_at=now - timedelta(days=5),
        ends_at=now + timedelta(days=5),
    )
    ChallengeCompletion.objects.create(challenge=challenge, member=members[0])
    return members


def _count(page) -> str:
    return page.locator("#segment-preview .segment-count strong").inner_text()


def test_the_segment_editor_counts_live(new_page, people, screenshot_dir):
    page = new_page(DESKTOP)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda response: errors.append(response.url) if response.status == 404 else None)
    page.add_init_script(CSP_LISTENER)
    # The site serves no /favicon.ico (Chromium asks for it on every page and logs the 404 as a console error).
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    log_in(page, "/admin/campaigns/segment/add/")
    page.locator("#id_name").fill("Kraków")
    page.locator("#id_rules-0-kind").select_option("city")
    page.locator("#id_rules-0-operator").select_option("eq")
    page.locator("#id_rules-0-value").fill("Kraków")
    page.locator("#id_rules-0-value").press("Tab")
    expect(page.locator("#segment-preview .segment-count strong")).to_have_text("3")
    assert page.locator("#segment-preview .segment-sample tbody tr").count() == 3
    page.screenshot(path=str(screenshot_dir / "campaigns_segment_editor.png"), full_page=True)

    page.locator("#id_rules-0-kind").select_option("challenge")
    page.locator("#id_rules-0-operator").select_option("completed")
    page.locator("#id_rules-0-value").fill("trzy")
    page.locator("#id_rules-0-value").press("Tab")
    expect(page.locator("#segment-preview .segment-count strong")).to_have_text("1")
    assert _count(page) == "1"
    page.screenshot(path=str(screenshot_dir / "campaigns_segment_editor_challenge.png"), full_page=True)
    assert page.evaluate("() => window.__csp") == []
    assert errors == []
