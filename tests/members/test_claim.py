"""Claiming a membership enrolled in a shop: card or member number plus the contact on file, a code or a link, a
password; never a second member, never someone else's membership."""

import logging
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from members.models import AccountToken, LoyaltyCard, Member, MemberChange

pytestmark = pytest.mark.usefixtures("polish_portal")  # the portal's Polish, from its fragment

NEW_PASSWORD = "Zielona-Herbata-42"
CARD = "2900000099999"


@pytest.fixture
def till_member(make_member):
    """Enrolled at a till: a card, an email and a phone on file, no login."""
    member = make_member(first_name="Halina", email="halina@example.pl", phone="+48602333444")
    LoyaltyCard.objects.create(member=member, number=CARD)
    return member


def start(client, number=CARD, contact="halina@example.pl"):
    return client.post(reverse("portal:claim"), {"number": number, "contact": contact})


def sent_code() -> str:
    return re.search(r"\b(\d{6})\b", mail.outbox[-1].body).group(1)


def sent_link() -> str:
    return re.search(r"http://testserver(/aktywuj/\d+/\S+/)", mail.outbox[-1].body).group(1)


def enter_code(client, code, password=NEW_PASSWORD):
    return client.post(reverse("portal:claim_code"), {"code": code, "password": password})


def test_claim_by_card_and_email_code_gives_the_same_member_a_login(client, till_member):
    response = start(client)
    assert response.status_code == 302 and response["Location"] == reverse("portal:claim_code")
    assert mail.outbox[-1].to == ["halina@example.pl"]
    response = enter_code(client, sent_code())
    assert response.status_code == 302 and response["Location"] == reverse("portal:home")
    till_member.refresh_from_db()
    assert till_member.user is not None and till_member.user.check_password(NEW_PASSWORD)
    assert till_member.email_verified_at is not None  # the code went to that address
    assert Member.objects.count() == 1
    assert MemberChange.objects.filter(member=till_member, field="login", note="portal claim").exists()
    assert int(client.session["_auth_user_id"]) == till_member.user_id
    # From now on the card logs in.
    assert Client().post(reverse("portal:login"), {"username": CARD, "password": NEW_PASSWORD}).status_code == 302


def test_claim_by_member_number_and_phone_sends_the_code_by_sms(client, till_member, caplog):
    with caplog.at_level(logging.INFO, logger="members.sms"):
        start(client, number=till_member.member_number, contact="602 333 444")
    message = caplog.records[-1].getMessage()
    assert "+48602333444" in message
    code = re.search(r"\b(\d{6})\b", message).group(1)
    enter_code(client, code)
    till_member.refresh_from_db()
    assert till_member.user is not None and till_member.email_verified_at is None


def test_claim_by_the_emailed_link(client, till_member):
    start(client)
    link = sent_link()
    assert Client().get(link).status_code == 200
    response = Client().post(link, {"password": NEW_PASSWORD})
    assert response.status_code == 302
    till_member.refresh_from_db()
    assert till_member.user is not None


@pytest.mark.parametrize(
    ("number", "contact"),
    [
        (CARD, "someone.else@example.pl"),  # the right card, another email
        (CARD, "+48602000000"),  # the right card, another phone
        ("2900000000000", "halina@example.pl"),  # no such card, the right email
        (CARD, "not a phone"),
    ],
)
def test_a_wrong_card_and_contact_pair_is_refused_without_saying_which_is_wrong(client, till_member, number, contact):
    response = start(client, number=number, contact=contact)
    assert response.status_code == 200
    assert "nie pasuje do podanego e-maila lub telefonu" in response.content.decode()
    assert mail.outbox == [] and not AccountToken.objects.exists()


def test_an_already_claimed_card_is_refused(client, till_member, django_user_model):
    start(client)
    enter_code(client, sent_code())
    response = start(Client())
    assert "To członkostwo ma już konto w portalu" in response.content.decode()
    assert Member.objects.filter(user__isnull=False).count() == 1


def test_a_reused_code_is_refused(client, till_member):
    start(client)
    code = sent_code()
    session_claim = client.session["portal_claim"]
    enter_code(client, code)
    # The same code again, from a browser that kept the claim in its session.
    other = Client()
    other.get(reverse("portal:claim"))
    session = other.session
    session["portal_claim"] = session_claim
    session.save()
    response = enter_code(other, code, password="Another-Pass-77")
    assert "został już użyty" in response.content.decode()
    till_member.refresh_from_db()
    assert till_member.user.check_password(NEW_PASSWORD)


def test_an_expired_link_is_refused(client, till_member):
    start(client)
    link = sent_link()
    AccountToken.objects.update(
        created_at=timezone.now() - timedelta(hours=2), expires_at=timezone.now() - timedelta(hours=1)
    )
    response = client.post(link, {"password": NEW_PASSWORD})
    assert response.status_code == 200 and "wygasł" in response.content.decode()
    till_member.refresh_from_db()
    assert till_member.user is None


def test_a_new_code_spends_the_previous_one(client, till_member):
    start(client)
    first_link = sent_link()
    start(client)
    response = Client().post(first_link, {"password": NEW_PASSWORD})
    assert "został już użyty" in response.content.decode()


def test_wrong_codes_spend_the_code_and_then_lock_the_card(client, till_member, settings):
    start(client)
    code = sent_code()
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(settings.PORTAL_CLAIM_CODE_ATTEMPTS):
        response = enter_code(client, wrong)
        assert "Kod jest nieprawidłowy" in response.content.decode()
    response = enter_code(client, code)  # the right code, too late
    assert "został już użyty" in response.content.decode()
    till_member.refresh_from_db()
    assert till_member.user is None


def test_guessing_pairs_for_one_card_is_locked_out_like_a_password(client, till_member, settings):
    for n in range(settings.LOGIN_FAILURE_LIMIT):
        start(Client(REMOTE_ADDR=f"198.51.100.{n + 1}"), contact=f"guess{n}@example.pl")
    response = start(Client(REMOTE_ADDR="203.0.113.77"))  # the right pair, from elsewhere, during the lock-out
    assert response.status_code == 429
    assert "Zbyt wiele prób dla tej karty" in response.content.decode()
    assert mail.outbox == []


def test_the_code_page_without_a_started_claim_goes_back_to_the_start(client, db):
    response = client.get(reverse("portal:claim_code"))
    assert response.status_code == 302 and response["Location"] == reverse("portal:claim")
