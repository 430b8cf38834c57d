"""Joining online, logging in by email, phone, card or member number, confirming the email, resetting the
password; the lock-out counting every name of one account together."""

import re

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.urls import reverse

from loyalty_site import settings as project_settings
from members.models import ConsentEvent, ConsentText, LoyaltyCard, Member, MemberChange

pytestmark = pytest.mark.usefixtures("polish_portal")  # the portal's Polish, from its fragment

PASSWORD = "secret-pass-1"
NEW_PASSWORD = "Zielona-Herbata-42"


def sign_up(client, **overrides):
    data = {
        "first_name": "Zofia",
        "last_name": "Mazur",
        "email": "Zofia.Mazur@example.pl",
        "phone": "601 200 300",
        "password": NEW_PASSWORD,
        "referral_code": "",
    }
    data.update(overrides)
    return client.post(reverse("portal:signup"), data)


def logged_in_member(client) -> Member | None:
    user_id = client.session.get("_auth_user_id")
    return Member.objects.filter(user_id=user_id).first() if user_id else None


@pytest.fixture
def consent_text(db):
    return ConsentText.objects.create(
        channel="email", purpose="marketing", version="2026-01", text="Zgadzam się na e-maile z ofertami."
    )


def test_argon2_hashes_passwords_first():
    # The project's settings module itself: the tests swap in a fast hasher.
    assert project_settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_sign_up_shows_every_consent_unticked_with_its_current_text(client, consent_text):
    html = client.get(reverse("portal:signup")).content.decode()
    for channel in ("email", "sms"):
        for purpose in ("marketing", "profiling", "partners"):
            field = re.search(rf'<input[^>]*name="consent_{channel}_{purpose}"[^>]*>', html).group(0)
            assert "checked" not in field
    assert "Zgadzam się na e-maile z ofertami." in html


def test_sign_up_enrols_a_member_with_a_login_consents_and_a_confirmation_email(client, consent_text):
    response = sign_up(client, consent_email_marketing="on")
    assert response.status_code == 302 and response["Location"] == reverse("portal:home")
    member = logged_in_member(client)
    assert member is not None and member.email == "zofia.mazur@example.pl" and member.phone == "+48601200300"
    assert member.join_source == Member.JoinSource.ONLINE and member.email_verified_at is None
    assert member.user.check_password(NEW_PASSWORD)
    event = ConsentEvent.objects.get(member=member)
    assert (event.channel, event.purpose, event.granted, event.text, event.source) == (
        "email",
        "marketing",
        True,
        consent_text,
        ConsentEvent.Source.SIGNUP,
    )
    assert MemberChange.objects.filter(member=member, field="join_source").exists()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["zofia.mazur@example.pl"]
    link = re.search(r"http://testserver(/potwierdz-email/\S+)", mail.outbox[0].body).group(1)
    # The home page reminds the newcomer to confirm the address until they do.
    assert 'id="verify-title"' in client.get(reverse("portal:home")).content.decode()
    assert client.get(link).status_code == 200  # a page with a button: a mail scanner opening links confirms nothing
    member.refresh_from_db()
    assert member.email_verified_at is None
    assert client.post(link).status_code == 302
    member.refresh_from_db()
    assert member.email_verified_at is not None
    assert client.post(link).status_code == 400  # spent
    assert 'id="verify-title"' not in client.get(reverse("portal:home")).content.decode()


def test_sign_up_with_a_referral_code_sets_the_referrer(client, make_member):
    friend = make_member(email="friend@example.pl", phone="+48600000001")
    sign_up(client, referral_code=friend.referral_code.lower())
    member = logged_in_member(client)
    assert member.referred_by == friend and member.join_source == Member.JoinSource.REFERRAL


def test_sign_up_refuses_a_referral_code_of_ones_own(client, make_member):
    # The same phone as the referrer's: the same person (the same email is a member already, who must claim).
    referrer = make_member(email="other@example.pl", phone="+48601200300")
    response = sign_up(client, referral_code=referrer.referral_code)
    assert response.status_code == 200 and "własnego kodu polecającego" in response.content.decode()
    assert logged_in_member(client) is None


def test_sign_up_refuses_an_unknown_referral_code_clearly(client, db):
    response = sign_up(client, referral_code="NOPE1234")
    assert "Żaden członek nie ma takiego kodu polecającego" in response.content.decode()
    assert not Member.objects.exists()


def test_sign_up_sends_a_member_enrolled_in_a_shop_to_claim_instead(client, make_member):
    make_member(email="zofia.mazur@example.pl")
    response = sign_up(client)
    html = response.content.decode()
    assert "Aktywuj swoje członkostwo zamiast zapisywać się ponownie" in html
    assert f'href="{reverse("portal:claim")}"' in html
    assert Member.objects.count() == 1


def test_sign_up_refuses_an_email_that_already_has_a_login(client, make_member):
    make_member(login=True, email="zofia.mazur@example.pl")
    response = sign_up(client)
    assert "Konto z tym adresem e-mail już istnieje" in response.content.decode()
    assert Member.objects.count() == 1


def test_sign_up_explains_a_weak_password_and_a_bad_phone(client, db):
    response = sign_up(client, password="12345678", phone="12")
    html = response.content.decode()
    assert response.status_code == 200 and not Member.objects.exists()
    assert 'aria-invalid="true"' in html
    assert "+48601234567" in html  # the phone's message shows the format


# --- Logging in ----------------------------------------------------------------------------------


@pytest.fixture
def ewa(make_member):
    member = make_member(login=True, first_name="Ewa", email="ewa@example.pl", phone="+48601111222")
    LoyaltyCard.objects.create(member=member, number="2900000012345")
    return member


@pytest.mark.parametrize(
    "identifier", ["ewa@example.pl", "EWA@example.pl ", "601 111 222", "+48601111222", "2900000012345"]
)
def test_a_member_logs_in_with_email_phone_or_card(client, ewa, identifier):
    response = client.post(reverse("portal:login"), {"username": identifier, "password": PASSWORD})
    assert response.status_code == 302
    assert logged_in_member(client) == ewa


def test_a_member_logs_in_with_the_member_number(client, ewa):
    client.post(reverse("portal:login"), {"username": ewa.member_number, "password": PASSWORD})
    assert logged_in_member(client) == ewa


def test_an_inactive_card_or_an_erased_member_opens_nothing(client, ewa):
    LoyaltyCard.objects.filter(member=ewa).update(is_active=False)
    client.post(reverse("portal:login"), {"username": "2900000012345", "password": PASSWORD})
    assert logged_in_member(client) is None
    Member.objects.filter(pk=ewa.pk).update(status=Member.Status.ERASED)
    client.post(reverse("portal:login"), {"username": "ewa@example.pl", "password": PASSWORD})
    assert logged_in_member(client) is None


def test_login_applies_the_members_preferred_language(client, ewa):
    Member.objects.filter(pk=ewa.pk).update(preferred_language="en")
    response = client.post(reverse("portal:login"), {"username": "ewa@example.pl", "password": PASSWORD})
    assert response.cookies[django_settings.LANGUAGE_COOKIE_NAME].value == "en"
    home = client.get(reverse("portal:home"))
    assert '<html lang="en">' in home.content.decode() and "Hello, Ewa!" in home.content.decode()


def test_failures_by_email_phone_and_card_count_against_one_account(client, ewa):
    names = ["ewa@example.pl", "601111222", "2900000012345"]
    for attempt in range(10):
        response = client.post(reverse("portal:login"), {"username": names[attempt % 3], "password": "wrong"})
        assert response.status_code == 200
    for name in [*names, ewa.user.username]:
        refused = Client(REMOTE_ADDR="203.0.113.9").post(
            reverse("portal:login"), {"username": name, "password": PASSWORD}
        )
        assert refused.status_code == 429, name


def test_logout_ends_the_session(client, ewa):
    client.force_login(ewa.user)
    client.post(reverse("portal:logout"))
    assert logged_in_member(client) is None


# --- Password reset ------------------------------------------------------------------------------


def test_password_reset_by_the_members_email_sets_a_new_password(client, ewa):
    get_user_model().objects.filter(pk=ewa.user_id).update(email="")  # the login keeps no address of its own
    response = client.post(reverse("portal:password_reset"), {"email": "Ewa@example.pl"})
    assert response.status_code == 302 and len(mail.outbox) == 1 and mail.outbox[0].to == ["ewa@example.pl"]
    link = re.search(r"http://testserver(/haslo/\S+/\S+/)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert form_page.context["validlink"]
    done = client.post(form_page.redirect_chain[-1][0], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert done.status_code == 302
    response = Client().post(reverse("portal:login"), {"username": "ewa@example.pl", "password": NEW_PASSWORD})
    assert response.status_code == 302


def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(client, db):
    response = client.post(reverse("portal:password_reset"), {"email": "nobody@example.pl"})
    assert response.status_code == 302 and response["Location"] == reverse("portal:password_reset_done")
    assert mail.outbox == []
