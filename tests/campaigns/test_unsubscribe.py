"""One-click unsubscribe (RFC 8058) and inbound SMS STOP withdraw consent; a GET changes nothing."""

import pytest
from django.test import Client

from campaigns.models import Delivery
from campaigns.sending import unsubscribe_token
from members.models import Channel, ConsentEvent
from members.selectors import consent_state

pytestmark = pytest.mark.django_db


def _granted(member, channel) -> bool:
    state = consent_state(member=member).get((channel, "marketing"))
    return bool(state and state.granted)


@pytest.fixture
def delivery(consenting):
    member = consenting(1)[0]
    return Delivery.objects.create(member=member, channel=Channel.EMAIL, status=Delivery.Status.SENT)


def test_one_click_post_without_cookies_withdraws_consent(delivery):
    client = Client(enforce_csrf_checks=True)  # a mail client: no session, no CSRF cookie
    response = client.post(f"/unsubscribe/{unsubscribe_token(delivery)}/", {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert not _granted(delivery.member, Channel.EMAIL)
    assert _granted(delivery.member, Channel.SMS)  # only the channel of the message
    event = ConsentEvent.objects.filter(member=delivery.member).latest("id")
    assert (event.source, event.granted) == (ConsentEvent.Source.UNSUBSCRIBE, False)
    delivery.refresh_from_db()
    assert delivery.unsubscribed_at is not None
    assert not response.cookies.get("sessionid")


def test_get_shows_a_confirmation_and_changes_nothing(delivery):
    events = ConsentEvent.objects.count()
    response = Client().get(f"/unsubscribe/{unsubscribe_token(delivery)}/")
    assert response.status_code == 200
    assert b'method="post"' in response.content
    assert ConsentEvent.objects.count() == events
    assert _granted(delivery.member, Channel.EMAIL)


def test_an_altered_token_is_refused_and_changes_nothing(delivery):
    token = unsubscribe_token(delivery)
    events = ConsentEvent.objects.count()
    response = Client(enforce_csrf_checks=True).post(f"/unsubscribe/{token[:-3]}abc/")
    assert response.status_code == 404
    assert ConsentEvent.objects.count() == events


def test_inbound_sms_stop_withdraws_sms_consent(settings, consenting):
    settings.SMS_API_TOKEN = "gateway-secret"
    member = consenting(1)[0]
    client = Client(enforce_csrf_checks=True)
    refused = client.post("/sms/inbound/", {"from": member.phone, "text": "STOP"})
    assert refused.status_code == 403
    response = client.post("/sms/inbound/?token=gateway-secret", {"from": member.phone, "text": " stop "})
    assert response.json() == {"stopped": True}
    assert not _granted(member, Channel.SMS)
    assert _granted(member, Channel.EMAIL)
    event = ConsentEvent.objects.filter(member=member, channel=Channel.SMS).latest("id")
    assert event.source == ConsentEvent.Source.SMS_STOP
    other = client.post("/sms/inbound/?token=gateway-secret", {"from": member.phone, "text": "Dziękuję"})
    assert other.json() == {"stopped": False}
