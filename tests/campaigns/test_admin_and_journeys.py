"""The admin pages of campaigns render and act through services; journeys send once per occasion."""

from datetime import date

import pytest
from django.utils import timezone

from campaigns import sending
from campaigns.journeys import journeys_daily, welcome
from campaigns.models import Campaign, Delivery, Journey
from campaigns.results import campaign_results, register_uplift, uplift_provider
from campaigns.services import CampaignError, campaign_create, campaign_launch, campaign_pause, campaign_resume
from members.events import MemberJoined

pytestmark = pytest.mark.django_db


@pytest.fixture
def queued(monkeypatch):
    """Fan-outs run in this process (after commit, as Celery would); send batches are collected, not sent."""
    batches: list[list[int]] = []
    monkeypatch.setattr(sending, "enqueue_send", batches.append)
    monkeypatch.setattr(sending, "enqueue_fanout", lambda pk: sending.campaign_fanout(campaign_id=pk))
    return batches


def test_admin_pages_render(client, staff_user, consenting, everyone_segment, email_template, sms_template, queued):
    consenting(3)
    client.force_login(staff_user)
    campaign = campaign_create(name="C", channel="email", segment=everyone_segment, templates=[(email_template, 100)])
    for url in [
        "/admin/campaigns/segment/add/",
        f"/admin/campaigns/segment/{everyone_segment.pk}/change/",
        f"/admin/campaigns/messagetemplate/{sms_template.pk}/change/",
        f"/admin/campaigns/messagetemplate/{email_template.pk}/preview/",
        f"/admin/campaigns/messagetemplate/{sms_template.pk}/preview/",
        f"/admin/campaigns/messagetemplate/{email_template.pk}/preview/email/",
        f"/admin/campaigns/campaign/{campaign.pk}/change/",
        "/admin/campaigns/campaign/",
        "/admin/campaigns/delivery/",
        "/admin/campaigns/smsoutbox/",
        "/admin/campaigns/journey/",
        f"/admin/campaigns/campaign/{campaign.pk}/progress/",
    ]:
        assert client.get(url).status_code == 200, url
    preview = client.post(
        "/admin/campaigns/segment/preview/",
        {
            "kind": "dynamic",
            "rules-TOTAL_FORMS": "1",
            "rules-0-kind": "consent",
            "rules-0-operator": "granted",
            "rules-0-value": "email",
            "rules-0-group": "1",
        },
    )
    assert b"<strong>3</strong>" in preview.content
    bad = client.post(
        "/admin/campaigns/segment/preview/",
        {
            "kind": "dynamic",
            "rules-TOTAL_FORMS": "1",
            "rules-0-kind": "balance",
            "rules-0-operator": "gte",
            "rules-0-value": "x",
            "rules-0-group": "1",
        },
    )
    assert "not a number" in bad.content.decode()


def test_launch_pause_resume_through_admin_actions(
    client, staff_user, consenting, everyone_segment, email_template, queued, django_capture_on_commit_callbacks
):
    consenting(3)
    client.force_login(staff_user)
    campaign = campaign_create(name="C", channel="email", segment=everyone_segment, templates=[(email_template, 100)])
    client.post("/admin/campaigns/campaign/", {"action": "launch", "_selected_action": [campaign.pk]})
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING
    sending.campaign_fanout(campaign_id=campaign.pk)  # what the fan-out task does
    assert Delivery.objects.filter(campaign=campaign, status="queued").count() == 3
    campaign_pause(campaign=campaign)
    assert sending.deliveries_send(delivery_ids=queued[0])["claimed"] == 0  # paused: nothing is handed out
    campaign_resume(campaign=campaign)
    with pytest.raises(CampaignError):
        campaign_launch(campaign=campaign)


def test_variants_split_and_control_group_is_held_out(
    consenting, everyone_segment, email_template, queued, django_capture_on_commit_callbacks
):
    consenting(60)
    b = email_template.__class__.objects.create(name="B", channel="email", subject="B", text="b")
    campaign = campaign_create(
        name="AB",
        channel="email",
        segment=everyone_segment,
        templates=[(email_template, 50), (b, 50)],
        control_percent=20,
    )
    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign=campaign)
    statuses = Delivery.objects.filter(campaign=campaign)
    control = statuses.filter(status=Delivery.Status.CONTROL).count()
    assert 3 <= control <= 25
    assert statuses.filter(variant__label="A").exists() and statuses.filter(variant__label="B").exists()
    campaign.refresh_from_db()
    results = campaign_results(campaign=campaign)
    assert {row["label"] for row in results["rows"]} == {"control", "A", "B"}
    assert all(row["uplift"] is None for row in results["rows"])  # no provider registered: shown as "—"
    previous = uplift_provider()
    register_uplift(lambda tn, tc, cn, cc: {"uplift": 1.0, "ci_low": 0.0, "ci_high": 2.0, "significant": False})
    try:
        Delivery.objects.filter(campaign=campaign, status="queued").update(status="sent")
        rows = campaign_results(campaign=campaign)["rows"]
        assert [row["uplift"]["uplift"] for row in rows if row["label"] != "control"] == [1.0, 1.0]
    finally:
        from campaigns import results

        results._uplift[:] = [previous] if previous else []


def test_frequency_cap_leaves_out_members_who_had_enough(
    consenting, everyone_segment, email_template, queued, django_capture_on_commit_callbacks
):
    members = consenting(3)
    first = campaign_create(name="1", channel="email", segment=everyone_segment, templates=[(email_template, 100)])
    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign=first)
    Delivery.objects.filter(campaign=first, member=members[0]).update(status="sent")
    Delivery.objects.filter(campaign=first).exclude(member=members[0]).update(status="skipped")
    capped = campaign_create(
        name="2",
        channel="email",
        segment=everyone_segment,
        templates=[(email_template, 100)],
        cap_messages=1,
        cap_days=7,
    )
    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign=capped)
    assert set(Delivery.objects.filter(campaign=capped).values_list("member_id", flat=True)) == {
        members[1].pk,
        members[2].pk,
    }


def test_journeys_send_once_per_occasion(consenting, email_template, queued):
    members = consenting(2)
    Journey.objects.filter(code="welcome").update(enabled=True, template=email_template)
    Journey.objects.filter(code="birthday").update(enabled=True, template=email_template)
    event = MemberJoined(
        member_id=members[0].pk, joined_at=timezone.now(), join_source="store", referred_by_id=None, welcome=True
    )
    welcome([event])
    welcome([event])
    assert Delivery.objects.filter(journey__code="welcome").count() == 1
    today = timezone.localdate()
    members[1].birth_date = date(1990, today.month, min(today.day, 28))
    members[1].save()
    if today.day <= 28:
        assert journeys_daily()["birthday"] == 1
        assert journeys_daily()["birthday"] == 0
        assert Delivery.objects.get(journey__code="birthday").occasion == f"birthday:{today.year}"


@pytest.mark.django_db(transaction=True)
def test_the_admin_launch_action_starts_the_fanout_after_commit(
    client, staff_user, consenting, everyone_segment, email_template, monkeypatch
):
    started: list[int] = []
    monkeypatch.setattr(sending, "enqueue_fanout", started.append)
    consenting(2)
    client.force_login(staff_user)
    campaign = campaign_create(name="C", channel="email", segment=everyone_segment, templates=[(email_template, 100)])
    client.post("/admin/campaigns/campaign/", {"action": "launch", "_selected_action": [campaign.pk]})
    assert started == [campaign.pk]
