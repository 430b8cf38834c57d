"""The tier-upgrade journey: queued once the post that moved the tier commits, and decided without a query in
the post while it is switched off (campaigns.journeys.journeys_switched_on, cached under config_version)."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from campaigns import sending
from campaigns.models import Delivery, Journey
from rewards.services import purchase_post


@pytest.fixture
def queued(monkeypatch):
    batches: list[list[int]] = []
    monkeypatch.setattr(sending, "enqueue_send", batches.append)
    return batches


def post(member, external_id: str, amount: str):
    return purchase_post(member=member, source="till", external_id=external_id, amount=Decimal(amount))


def test_an_upgrade_queues_the_journey_s_message_after_commit(
    program, tiers, consenting, email_template, queued, django_capture_on_commit_callbacks
):
    member = consenting(1)[0]
    Journey.objects.filter(code=Journey.Code.TIER_UPGRADE).update(enabled=True, template=email_template)
    post(member, "warm-up", "10.00")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        post(member, "P-1", "1500.00")
    assert not Delivery.objects.filter(journey__code=Journey.Code.TIER_UPGRADE).exists()  # nothing before commit
    for callback in callbacks:
        callback()
    delivery = Delivery.objects.get(journey__code=Journey.Code.TIER_UPGRADE)
    assert delivery.member_id == member.pk and delivery.occasion.startswith("tier:")
    assert queued == [[delivery.pk]]


def test_while_the_journey_is_off_the_post_makes_no_query_for_it(
    program, tiers, consenting, email_template, queued, django_capture_on_commit_callbacks
):
    member = consenting(1)[0]
    post(member, "warm-up", "10.00")
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        post(member, "P-1", "1500.00")
    member.points_account.refresh_from_db()
    assert member.points_account.tier.code == "silver"
    assert not any("campaigns_journey" in q["sql"] for q in queries), [q["sql"] for q in queries]
    assert not Delivery.objects.exists()

    # Switched on by a bulk update (no save(), no signal): the next upgrade sees it.
    Journey.objects.filter(code=Journey.Code.TIER_UPGRADE).update(enabled=True, template=email_template)
    with django_capture_on_commit_callbacks(execute=True):
        post(member, "P-2", "5000.00")
    member.points_account.refresh_from_db()
    assert member.points_account.tier.code == "gold"
    assert Delivery.objects.filter(journey__code=Journey.Code.TIER_UPGRADE).count() == 1
