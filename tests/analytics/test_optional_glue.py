"""The dashboard's campaign results, challenge completion and partner performance, read from the real models."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from analytics.frames import Period, purchase_days
from analytics.optional import optional_figures
from analytics.services import dashboard_snapshot_store
from campaigns.models import Campaign, Delivery, MessageTemplate, Segment, Variant
from rewards.engagement.models import Challenge, ChallengeCompletion, ChallengeProgress
from rewards.models import Partner, Reward
from rewards.redemption import reward_redeem, voucher_cancel
from rewards.services import points_earn, purchase_post

pytestmark = pytest.mark.django_db


def _period():
    today = timezone.localdate()
    return Period(today - timedelta(days=29), today)


def test_campaign_results_from_deliveries_with_control_and_purchases_in_the_window(make_member, program):
    segment = Segment.objects.create(name="all")
    template = MessageTemplate.objects.create(name="t", channel="email", subject="s", text="x")
    campaign = Campaign.objects.create(name="Wiosna", segment=segment, attribution_days=3, status="sent")
    variant = Variant.objects.create(campaign=campaign, label="A", template=template)
    sent = timezone.now() - timedelta(days=10)
    treated = [make_member() for _ in range(4)]
    control = [make_member() for _ in range(4)]
    for member in treated:
        Delivery.objects.create(
            campaign=campaign, variant=variant, member=member, channel="email", status="sent", sent_at=sent
        )
    for member in control:
        Delivery.objects.create(campaign=campaign, member=member, channel="email", status="control", created_at=sent)
    # Two treated buy within 3 days, one after the window; one control member buys within the window.
    for n, (member, days_after) in enumerate([(treated[0], 1), (treated[1], 3), (treated[2], 6), (control[0], 2)]):
        purchase_post(
            member=member,
            source="pos",
            external_id=f"C-{n}",
            amount=Decimal("100.00"),
            purchased_at=sent + timedelta(days=days_after),
            store="WAW01",
        )
    period = _period()
    figures = optional_figures(period, purchase_days(until=period.end))
    rows = {row["variant"]: row for row in figures["campaigns"]}
    assert rows["A"]["members"] == 4 and rows["A"]["conversions"] == 2 and rows["A"]["revenue"] == "200.00"
    assert rows["control"]["members"] == 4 and rows["control"]["conversions"] == 1
    assert rows["A"]["days"] == 3
    assert rows["A"]["uplift"] == pytest.approx(0.25)
    assert rows["control"]["uplift"] is None


def test_challenge_completion_and_partner_performance(make_member, program, staff_user):
    now = timezone.now()
    challenge = Challenge.objects.create(
        code="three",
        name="Three",
        kind=Challenge.Kind.PURCHASES,
        target=Decimal("3"),
        points=100,
        starts_at=now - timedelta(days=5),
        ends_at=now + timedelta(days=5),
    )
    Challenge.objects.create(
        code="old",
        name="Old",
        kind=Challenge.Kind.PURCHASES,
        target=Decimal("1"),
        points=100,
        starts_at=now - timedelta(days=90),
        ends_at=now - timedelta(days=60),
    )
    a, b, c = make_member(), make_member(), make_member()
    ChallengeProgress.objects.create(challenge=challenge, member=a, value=Decimal("3"))
    ChallengeProgress.objects.create(challenge=challenge, member=b, value=Decimal("1"))
    ChallengeCompletion.objects.create(challenge=challenge, member=a)
    partner = Partner.objects.create(code="kino", name="Kino Polska", email="kino@example.com")
    reward = Reward.objects.create(
        code="bilet",
        name="Bilet",
        kind=Reward.Kind.PARTNER_OFFER,
        points_cost=100,
        partner=partner,
        settlement_value=Decimal("12.50"),
    )
    for member in (a, c):
        points_earn(member=member, points=1000, reason="start", idempotency_key=f"s{member.pk}")
    reward_redeem(member=a, reward=reward)
    reward_redeem(member=a, reward=reward)
    given_back = reward_redeem(member=c, reward=reward)
    voucher_cancel(voucher=given_back.voucher, actor=staff_user)
    period = _period()
    figures = optional_figures(period, purchase_days(until=period.end))
    assert figures["challenge_completion"] == 0.5
    assert figures["challenges"] == [{"challenge": "three", "members": 2, "completed": 1, "rate": 0.5}]
    assert figures["partners"] == [
        {"partner": "Kino Polska", "redemptions": 2, "points": 200, "members": 1, "settlement": "25.00"}
    ]


def test_dashboard_shows_the_programme_tables(make_member, program, client, staff_user):
    period = _period()
    dashboard_snapshot_store(date_from=period.start, date_to=period.end)
    client.force_login(staff_user)
    response = client.get(
        "/admin/analytics/dashboardsnapshot/",
        {"date_from": period.start.isoformat(), "date_to": period.end.isoformat()},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert (
        'id="campaign-results"' in html and 'id="partner-performance"' in html and 'id="challenge-completion"' in html
    )


def test_the_dashboard_filters_by_a_campaigns_segment(make_member, program, client, staff_user):
    from campaigns.models import SegmentRule

    segment = Segment.objects.create(name="Kraków")
    SegmentRule.objects.create(segment=segment, kind="city", operator="eq", value="Kraków")
    inside, outside = make_member(city="Kraków"), make_member(city="Gdańsk")
    for n, member in enumerate([inside, outside, outside]):
        purchase_post(
            member=member,
            source="pos",
            external_id=f"G-{n}",
            amount=Decimal("100.00"),
            purchased_at=timezone.now() - timedelta(days=3),
        )
    period = _period()
    everyone = dashboard_snapshot_store(date_from=period.start, date_to=period.end)
    narrowed = dashboard_snapshot_store(date_from=period.start, date_to=period.end, segment=segment.pk)
    figures = {row["code"]: row["value"] for row in everyone.data["figures"]}
    narrowed_figures = {row["code"]: row["value"] for row in narrowed.data["figures"]}
    assert figures["orders"] == 3 and narrowed_figures["orders"] == 1
    assert figures["members_total"] == 2 and narrowed_figures["members_total"] == 1
    client.force_login(staff_user)
    response = client.get(
        "/admin/analytics/dashboardsnapshot/",
        {"date_from": period.start.isoformat(), "date_to": period.end.isoformat(), "segment": segment.pk},
    )
    html = response.content.decode()
    assert f'<option value="{segment.pk}" selected>Kraków</option>' in html
    assert response.context["snapshot"].pk == narrowed.pk
