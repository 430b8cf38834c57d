"""A second factor for staff: with STAFF_OTP_REQUIRED on, a password alone reaches no admin page."""

import contextlib

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import NoReverseMatch, reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from loyalty_site.staff_otp import services

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_superuser(username="boss", email="boss@example.com", password="pw-Secret-1")


@pytest.fixture
def required(settings):
    settings.STAFF_OTP_REQUIRED = True


OPEN_WITHOUT_SECOND_FACTOR = {"login", "logout", "otp_verify", "otp_setup", "jsi18n", "set_language"}


def admin_pages() -> list[str]:
    """Every admin page that takes no argument: each model's list, add, import and export pages and the rest."""
    urls = []

    def walk(patterns):
        for pattern in patterns:
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns)
            elif pattern.name and pattern.name not in OPEN_WITHOUT_SECOND_FACTOR:
                # A page that takes an argument (an object's page) does not reverse; its list is walked.
                with contextlib.suppress(NoReverseMatch):
                    urls.append(reverse(f"admin:{pattern.name}"))

    walk(admin.site.get_urls())
    return sorted(set(urls))


def code_for(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, step=device.step, t0=device.t0, digits=device.digits):06d}"


def test_password_alone_reaches_no_admin_page(client, staff, required):
    client.force_login(staff)
    pages = admin_pages()
    assert len(pages) > 40 and reverse("admin:members_member_changelist") in pages
    for url in pages:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("admin:login")), url
    # The login page sends a signed-in but unverified member of staff to the second factor, then to set-up.
    response = client.get(reverse("admin:login"))
    assert response["Location"] == reverse("admin:otp_verify")
    assert client.get(reverse("admin:otp_verify"))["Location"] == reverse("admin:otp_setup")


def test_setting_up_an_app_then_signing_in_with_a_code(client, staff, required):
    client.force_login(staff)
    page = client.get(reverse("admin:otp_setup"))
    assert page.status_code == 200 and b"<svg" in page.content
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    wrong = client.post(reverse("admin:otp_setup"), {"token": "000000" if code_for(device) != "000000" else "111111"})
    assert wrong.status_code == 200 and "nieprawidłowy" in wrong.content.decode()
    # django-otp makes the next try wait after a wrong code, and says so.
    throttled = client.post(reverse("admin:otp_setup"), {"token": code_for(device)})
    assert "Zbyt wiele błędnych kodów" in throttled.content.decode()
    device.refresh_from_db()
    device.throttle_reset()
    done = client.post(reverse("admin:otp_setup"), {"token": code_for(device)})
    assert done.status_code == 200
    codes = done.context["codes"]
    assert len(codes) == services.RECOVERY_CODES
    assert client.get(reverse("admin:index")).status_code == 200

    # A new session: password, then a recovery code, which works once.
    client.logout()
    client.force_login(staff)
    assert client.get(reverse("admin:index")).status_code == 302
    response = client.post(reverse("admin:otp_verify"), {"token": codes[0]})
    assert response.status_code == 302 and response["Location"] == reverse("admin:index")
    assert client.get(reverse("admin:members_member_changelist")).status_code == 200
    client.logout()
    client.force_login(staff)
    again = client.post(reverse("admin:otp_verify"), {"token": codes[0]})
    assert again.status_code == 200 and again.context["form"].errors
    assert client.get(reverse("admin:index")).status_code == 302


def test_a_confirmed_app_cannot_be_replaced_with_the_password_alone(client, staff, required):
    device = TOTPDevice.objects.create(user=staff, name="authenticator", confirmed=True)
    client.force_login(staff)
    assert client.get(reverse("admin:otp_setup"))["Location"] == reverse("admin:otp_verify")
    response = client.post(reverse("admin:otp_verify"), {"token": code_for(device), "next": "https://evil.example/"})
    assert response["Location"] == reverse("admin:index")


def test_without_the_setting_the_password_is_enough(client, staff, settings):
    settings.STAFF_OTP_REQUIRED = False
    client.force_login(staff)
    assert client.get(reverse("admin:index")).status_code == 200


def test_a_superuser_resets_a_lost_second_factor(client, staff, required):
    colleague = get_user_model().objects.create_user(username="clerk", password="pw-Secret-2", is_staff=True)
    TOTPDevice.objects.create(user=colleague, name="authenticator", confirmed=True)
    services.recovery_codes_issue(user=colleague)
    client.force_login(staff)
    device = TOTPDevice.objects.create(user=staff, name="authenticator", confirmed=True)
    client.post(reverse("admin:otp_verify"), {"token": code_for(device)})
    response = client.post(
        reverse("admin:auth_user_changelist"),
        {"action": "reset_second_factor", "_selected_action": [colleague.pk]},
    )
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=colleague).exists()
    client.force_login(colleague)
    assert client.get(reverse("admin:otp_verify"))["Location"] == reverse("admin:otp_setup")
