"""The programme dashboard in a real browser: the charts are drawn (pixels on every canvas), the programme tables
(campaign results, challenges, partners) and the segment filter are there, with no console error and no
Content-Security-Policy violation."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.frames import Period
from analytics.services import dashboard_snapshot_store
from campaigns.models import Campaign, Delivery, MessageTemplate, Segment, SegmentRule, Variant
from rewards.models import Partner, Reward
from rewards.redemption import reward_redeem
from rewards.services import points_earn, purchase_post

from .conftest import DESKTOP
from .staff import create_superuser, log_in

pytestmark = pytest.mark.browser

CSP_LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__csp.push(e.violatedDirective + " " + e.blockedURI));
"""
DRAWN = """(id) => {
  const canvas = document.getElementById(id);
  if (!canvas || !canvas.width || !canvas.height) return false;
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] !== 0) return true;
  return false;
}"""
CHARTS = ["chart-trend", "chart-points", "chart-segments", "chart-churn", "chart-tiers", "chart-cohort-revenue"]


@pytest.fixture
def programme(transactional_db, make_member, program, tiers):
    create_superuser()
    now = timezone.now()
    members = [make_member(city="Kraków" if n % 2 else "Gdańsk") for n in range(8)]
    for n, member in enumerate(members):
        for k in range(1 + n % 3):
            purchase_post(
                member=member,
                source="pos",
                external_id=f"B-{n}-{k}",
                amount=Decimal(40 + 10 * n),
                purchased_at=now - timedelta(days=3 + 9 * k),
                store="WAW01",
            )
    segment = Segment.objects.create(name="Kraków")
    SegmentRule.objects.create(segment=segment, kind="city", operator="eq", value="Kraków")
    template = MessageTemplate.objects.create(name="Promo", channel="email", subject="Hej", text="Hej")
    campaign = Campaign.objects.create(name="Wiosna", segment=segment, status="sent", attribution_days=7)
    variant = Variant.objects.create(campaign=campaign, label="A", template=template)
    for n, member in enumerate(members):
        Delivery.objects.create(
            campaign=campaign,
            variant=variant if n % 2 else None,
            member=member,
            channel="email",
            status="sent" if n % 2 else "control",
            sent_at=now - timedelta(days=5) if n % 2 else None,
            created_at=now - timedelta(days=5),
        )
    partner = Partner.objects.create(code="kino", name="Kino", email="kino@example.pl")
    reward = Reward.objects.create(
        code="bilet",
        name="Bilet",
        kind=Reward.Kind.PARTNER_OFFER,
        points_cost=10,
        partner=partner,
        settlement_value=Decimal("9.50"),
    )
    points_earn(member=members[0], points=100, reason="start", idempotency_key="b-start")
    reward_redeem(member=members[0], reward=reward)
    today = timezone.localdate()
    period = Period(today - timedelta(days=29), today)
    dashboard_snapshot_store(date_from=period.start, date_to=period.end)
    dashboard_snapshot_store(date_from=period.start, date_to=period.end, segment=segment.pk)
    return {"period": period, "segment": segment}


def test_the_dashboard_draws_its_charts_and_tables(new_page, programme, screenshot_dir):
    page = new_page(DESKTOP)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("response", lambda response: errors.append(response.url) if response.status == 404 else None)
    page.add_init_script(CSP_LISTENER)
    # The site serves no /favicon.ico (Chromium asks for it on every page and logs the 404 as a console error).
    page.route("**/favicon.ico", lambda route: route.fulfill(status=204))
    period = programme["period"]
    url = f"/admin/analytics/dashboardsnapshot/?date_from={period.start.isoformat()}&date_to={period.end.isoformat()}"
    log_in(page, "/admin/analytics/dashboardsnapshot/")
    page.goto(url)
    page.wait_for_function("() => window.Chart !== undefined")
    for chart in CHARTS:
        page.wait_for_function(DRAWN, arg=chart)
    assert page.locator("#campaign-results + .analytics-scroll tbody tr").count() == 2  # A and control
    assert page.locator("#partner-performance + .analytics-scroll tbody tr").count() == 1
    page.screenshot(path=str(screenshot_dir / "analytics_dashboard.png"), full_page=True)

    page.locator("#id_segment").select_option(label="Kraków")
    page.locator(".analytics-range button[type=submit]").click()
    page.wait_for_url(f"**segment={programme['segment'].pk}**")
    for chart in CHARTS[:2]:
        page.wait_for_function(DRAWN, arg=chart)
    assert "Kraków" in page.locator(".analytics-meta").inner_text()
    page.screenshot(path=str(screenshot_dir / "analytics_dashboard_segment.png"), full_page=True)
    assert page.evaluate("() => window.__csp") == []
    assert errors == []
