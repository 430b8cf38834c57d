"""Opens and clicks are tracked only with profiling consent; SMS wait out the quiet hours."""

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.test import Client

from campaigns import sending
from campaigns.models import Campaign, Delivery
from campaigns.sending import quiet_hours_delay, tracking_token
from campaigns.services import campaign_create

pytestmark = pytest.mark.django_db


def test_only_members_with_profiling_consent_get_the_pixel_and_tracked_links(
    settings, consenting, everyone_segment, email_template, monkeypatch
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    tracked = consenting(1, profiling=True)[0]
    untracked = consenting(1)[0]
    monkeypatch.setattr(sending, "enqueue_send", lambda ids: None)
    campaign = campaign_create(name="T", channel="email", segment=everyone_segment, templates=[(email_template, 100)])
    Campaign.objects.filter(pk=campaign.pk).update(status="sending")
    sending.campaign_fanout(campaign_id=campaign.pk)
    sending.deliveries_send(delivery_ids=list(Delivery.objects.values_list("pk", flat=True)))
    html = {message.to[0]: message.alternatives[0][0] for message in mail.outbox}
    assert "/o.gif" in html[tracked.email] and "/l/0/" in html[tracked.email]
    assert "/o.gif" not in html[untracked.email] and 'href="https://shop.example.pl/"' in html[untracked.email]

    delivery = Delivery.objects.get(member=tracked)
    client = Client()
    assert client.get(f"/c/{tracking_token(delivery.pk)}/o.gif").status_code == 200
    click = client.get(f"/c/{tracking_token(delivery.pk)}/l/0/")
    assert (click.status_code, click["Location"]) == (302, "https://shop.example.pl/")
    delivery.refresh_from_db()
    assert delivery.opened_at and delivery.clicked_at
    assert client.get(f"/c/{tracking_token(delivery.pk)}x/o.gif").status_code == 404


def test_sms_wait_until_the_quiet_hours_end(consenting, everyone_segment, sms_template, monkeypatch):
    consenting(1)
    everyone_segment.rules.update(value="sms")
    monkeypatch.setattr(sending, "enqueue_send", lambda ids: None)
    campaign = campaign_create(
        name="Q",
        channel="sms",
        segment=everyone_segment,
        templates=[(sms_template, 100)],
        quiet_start=time(21, 0),
        quiet_end=time(9, 0),
    )
    Campaign.objects.filter(pk=campaign.pk).update(status="sending")
    sending.campaign_fanout(campaign_id=campaign.pk)
    ids = list(Delivery.objects.values_list("pk", flat=True))
    warsaw = ZoneInfo("Europe/Warsaw")
    assert quiet_hours_delay(delivery_ids=ids, now=datetime(2026, 12, 7, 23, 30, tzinfo=warsaw)) == 9.5 * 3600
    assert quiet_hours_delay(delivery_ids=ids, now=datetime(2026, 12, 7, 8, 0, tzinfo=warsaw)) == 3600
    assert quiet_hours_delay(delivery_ids=ids, now=datetime(2026, 12, 7, 12, 0, tzinfo=warsaw)) == 0
