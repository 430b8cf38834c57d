"""The privacy centre: consents that save at once, their history, the copy of my data (now or in the background),
erasing my account; the profile's audited edits and the language switcher."""

import io
import json
import re
import zipfile
from decimal import Decimal

import pytest
from django.conf import settings as django_settings
from django.urls import reverse

from loyalty_site.hooks import receiving
from members import data_export
from members.events import MemberErased
from members.models import ConsentEvent, ConsentText, DataExport, LoyaltyCard, Member, MemberChange
from members.services import LineData, consent_record
from rewards.models import LedgerEntry, PointsAccount
from rewards.selectors import ledger_mismatches
from rewards.services import purchase_post

pytestmark = pytest.mark.usefixtures("polish_portal")  # the portal's Polish, from its fragment

PASSWORD = "secret-pass-1"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def ola(make_member, program, tiers):
    member = make_member(login=True, first_name="Ola", email="ola@example.pl", city="Kraków")
    LoyaltyCard.objects.create(member=member, number="2900000055555")
    purchase_post(
        member=member,
        source="pos",
        external_id="R-1",
        amount=Decimal("120.00"),
        lines=[LineData(sku="K1", amount=Decimal("120.00"), category="kawa", product_name="Kawa ziarnista")],
    )
    ConsentText.objects.create(channel="email", purpose="marketing", version="3", text="Oferty e-mailem.")
    return member


def test_a_consent_toggle_saves_at_once_and_answers_with_the_switch_and_the_history(client, ola):
    client.force_login(ola.user)
    url = reverse("portal:consent_toggle", args=["email", "marketing"])
    response = client.post(url, {"granted": "1"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert 'id="consent-input-email-marketing"' in html and " checked" in html and "Zapisano." in html
    assert 'id="consent-history" class="consent-history" hx-swap-oob="true"' in html
    event = ConsentEvent.objects.get(member=ola)
    assert event.granted and event.source == ConsentEvent.Source.PORTAL and event.text.version == "3"
    client.post(url, {}, **HTMX)  # unticked: withdrawn
    assert list(ConsentEvent.objects.filter(member=ola).order_by("id").values_list("granted", flat=True)) == [
        True,
        False,
    ]
    history = client.get(reverse("portal:consent_history")).content.decode()
    assert history.count('class="timeline__item"') == 2


def test_a_consent_toggle_without_javascript_redirects_back(client, ola):
    client.force_login(ola.user)
    response = client.post(reverse("portal:consent_toggle", args=["sms", "profiling"]), {"granted": "1"})
    assert response.status_code == 302 and response["Location"] == reverse("portal:privacy")


def test_an_unknown_consent_is_404(client, ola):
    client.force_login(ola.user)
    assert client.post(reverse("portal:consent_toggle", args=["fax", "marketing"]), {"granted": "1"}).status_code == 404


def test_the_privacy_page_shows_each_consent_as_a_switch(client, ola):
    consent_record(member=ola, channel="sms", purpose="marketing", granted=True, source="admin")
    client.force_login(ola.user)
    html = client.get(reverse("portal:privacy")).content.decode()
    assert html.count('role="switch"') == 6
    switch = re.search(r'<input[^>]*id="consent-input-sms-marketing"[^>]*>', html).group(0)
    assert " checked" in switch
    assert " checked" not in re.search(r'<input[^>]*id="consent-input-email-marketing"[^>]*>', html).group(0)


def test_the_data_export_holds_every_section_as_json(client, ola):
    client.force_login(ola.user)
    response = client.post(reverse("portal:data_export"), {"format": "json"})
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert "attachment" in response["Content-Disposition"]
    data = json.loads(response.content)
    assert {"profile", "consents", "purchases", "purchase_lines", "ledger", "purchase_points"} <= set(data)
    assert data["profile"][0]["email"] == "ola@example.pl" and data["profile"][0]["cards"] == "2900000055555"
    assert data["purchase_lines"][0]["product_name"] == "Kawa ziarnista"
    assert data["ledger"][0]["points"] == 120 and "120" in data["ledger"][0]["rules"]
    assert data["purchase_points"] == [
        {"purchase_id": data["purchases"][0]["id"], "receipt": "R-1", "kind": "earn", "points": 120}
    ]


def test_the_data_export_as_csv_is_a_zip_of_one_file_per_section(client, ola):
    Member.objects.filter(pk=ola.pk).update(city="=HYPERLINK(1)")
    client.force_login(ola.user)
    response = client.post(reverse("portal:data_export"), {"format": "csv"})
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert {"profile.csv", "ledger.csv", "purchases.csv"} <= set(archive.namelist())
    profile = archive.read("profile.csv").decode("utf-8-sig")
    assert "'=HYPERLINK(1)" in profile  # never a formula in a spreadsheet


def test_another_app_adds_a_section_through_the_registry(client, ola):
    data_export.register_section("surveys", lambda member: [{"answer": f"tak-{member.member_number}"}])
    try:
        client.force_login(ola.user)
        data = json.loads(client.post(reverse("portal:data_export"), {"format": "json"}).content)
        assert data["surveys"] == [{"answer": f"tak-{ola.member_number}"}]
    finally:
        data_export._sections.pop("surveys")


def test_a_large_export_is_written_in_the_background_and_downloaded_by_its_owner_only(
    client, ola, settings, eager_celery, make_member, tmp_path
):
    settings.PORTAL_EXPORT_BACKGROUND_ROWS = 1
    settings.MEDIA_ROOT = tmp_path
    client.force_login(ola.user)
    with django_capture_on_commit():
        response = client.post(reverse("portal:data_export"), {"format": "json"}, **HTMX)
    export = DataExport.objects.get(member=ola)
    assert response.status_code == 200 and f'id="export-{export.pk}"' in response.content.decode()
    export.refresh_from_db()
    assert export.status == DataExport.Status.DONE
    status = client.get(reverse("portal:data_export_status", args=[export.pk]), **HTMX).content.decode()
    assert reverse("portal:data_export_download", args=[export.pk]) in status
    download = client.get(reverse("portal:data_export_download", args=[export.pk]))
    assert json.loads(b"".join(download.streaming_content))["profile"][0]["email"] == "ola@example.pl"


def django_capture_on_commit():
    """The test's transaction never commits: run on-commit callbacks (the task) when the block ends."""
    from django.test import TestCase

    return TestCase.captureOnCommitCallbacks(execute=True)


# --- Erasure -------------------------------------------------------------------------------------


def test_deleting_my_account_erases_personal_data_and_keeps_the_ledger(client, ola):
    consent_record(member=ola, channel="email", purpose="marketing", granted=True, source="portal")
    ledger_before = list(LedgerEntry.objects.filter(member=ola).values_list("points", flat=True))
    balance_before = PointsAccount.objects.get(member=ola).balance
    user_id = ola.user_id
    client.force_login(ola.user)
    assert client.get(reverse("portal:account_delete")).status_code == 200
    refused = client.post(reverse("portal:account_delete"), {"password": "wrong", "confirm": "on"})
    assert refused.status_code == 200 and "Hasło jest nieprawidłowe" in refused.content.decode()
    erased = []
    with receiving(MemberErased, erased.extend):
        response = client.post(reverse("portal:account_delete"), {"password": PASSWORD, "confirm": "on"})
    assert response.status_code == 302 and response["Location"] == reverse("portal:account_deleted")
    assert erased and erased[0].member_id == ola.pk
    ola.refresh_from_db()
    assert ola.status == Member.Status.ERASED and ola.user_id is None
    assert (ola.first_name, ola.last_name, ola.email, ola.phone, ola.city) == ("-", "-", "", "", "")
    assert not LoyaltyCard.objects.filter(member=ola, is_active=True).exists()
    assert not MemberChange.objects.filter(member=ola, new_value__icontains="ola@example.pl").exists()
    assert list(LedgerEntry.objects.filter(member=ola).values_list("points", flat=True)) == ledger_before
    assert PointsAccount.objects.get(member=ola).balance == balance_before
    assert ConsentEvent.objects.filter(member=ola).count() == 1  # append-only, holds no personal data
    assert ledger_mismatches() == []
    assert "_auth_user_id" not in client.session
    from django.contrib.auth import get_user_model

    login = get_user_model().objects.get(pk=user_id)
    assert not login.is_active and not login.has_usable_password() and login.email == ""
    assert client.post(reverse("portal:login"), {"username": "2900000055555", "password": PASSWORD}).status_code == 200


# --- Profile and language ------------------------------------------------------------------------


def profile_data(member, **changes):
    data = {
        "first_name": member.first_name,
        "last_name": member.last_name,
        "email": member.email,
        "phone": member.phone,
        "birth_date": "",
        "city": member.city,
        "postal_code": "",
        "preferred_channel": "email",
        "preferred_language": "pl",
    }
    data.update(changes)
    return data


def test_profile_changes_are_audited_like_staff_changes(client, ola):
    client.force_login(ola.user)
    response = client.post(reverse("portal:profile"), profile_data(ola, city="Gdańsk", postal_code="80-001"))
    assert response.status_code == 302
    change = MemberChange.objects.get(member=ola, field="city")
    assert (change.old_value, change.new_value, change.actor_id, change.note) == (
        "Kraków",
        "Gdańsk",
        ola.user_id,
        "portal",
    )


def test_profile_explains_bad_values(client, ola, make_member):
    make_member(login=True, email="taken@example.pl")
    client.force_login(ola.user)
    response = client.post(
        reverse("portal:profile"),
        profile_data(ola, email="taken@example.pl", postal_code="80001", phone="abc", birth_date="2999-01-01"),
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Tego adresu używa inne konto" in html
    assert "np. 00-950" in html
    assert "+48601234567" in html
    assert "Data urodzenia nie może być w przyszłości" in html
    assert not MemberChange.objects.filter(member=ola, field="city").exists()


def test_a_changed_email_must_be_confirmed_again(client, ola):
    from django.core import mail
    from django.utils import timezone

    Member.objects.filter(pk=ola.pk).update(email_verified_at=timezone.now())
    client.force_login(ola.user)
    client.post(reverse("portal:profile"), profile_data(ola, email="ola.nowa@example.pl"))
    ola.refresh_from_db()
    assert ola.email == "ola.nowa@example.pl" and ola.email_verified_at is None
    assert mail.outbox[-1].to == ["ola.nowa@example.pl"]


def test_the_language_switcher_sets_the_cookie_and_the_members_preferred_language(client, ola):
    client.force_login(ola.user)
    response = client.post(reverse("portal:set_language"), {"language": "en", "next": reverse("portal:history")})
    assert response.status_code == 302 and response["Location"] == reverse("portal:history")
    assert response.cookies[django_settings.LANGUAGE_COOKIE_NAME].value == "en"
    html = client.get(reverse("portal:history")).content.decode()
    assert '<html lang="en">' in html and "Points history" in html
    ola.refresh_from_db()
    assert ola.preferred_language == "en"
    assert MemberChange.objects.filter(member=ola, field="preferred_language", new_value="en").exists()
    polish = client.post(reverse("portal:set_language"), {"language": "pl", "next": "/"})
    assert polish.cookies[django_settings.LANGUAGE_COOKIE_NAME].value == "pl"
    assert "Historia punktów" in client.get(reverse("portal:history")).content.decode()


def test_money_and_dates_follow_the_language(client, ola):
    purchase_post(member=ola, source="pos", external_id="R-2", amount=Decimal("1234.50"))
    client.force_login(ola.user)
    polish = client.get(reverse("portal:history")).content.decode()
    assert "Zakup za 1\xa0234,50 zł" in polish or "Zakup za 1 234,50 zł" in polish
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "en"
    english = client.get(reverse("portal:history")).content.decode()
    assert "Purchase of 1,234.50 zł" in english
