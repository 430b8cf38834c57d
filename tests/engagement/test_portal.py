"""The engagement pages of the member portal: own data only, 404 for what is not the member's, CSRF on the
HTMX form, the home page's challenges card within the page's query budget."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from members.services import member_enroll
from rewards.engagement.models import BadgeAward, Challenge, LeaderboardProfile
from rewards.services import purchase_post

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False


def login(client, member):
    client.force_login(member.user)


def _buy(member, amount="40"):
    purchase_post(
        member=member,
        source="pos",
        external_id=uuid.uuid4().hex[:12],
        amount=Decimal(amount),
        purchased_at=timezone.now() - timedelta(minutes=5),
    )


@pytest.fixture
def member_a(make_member, program, tiers):
    return make_member(login=True, first_name="Anna")


@pytest.fixture
def member_b(make_member, program, tiers):
    return make_member(login=True, first_name="Bartek")


def test_challenges_page_shows_active_completed_and_upcoming_with_progress(client, member_a, make_challenge, badge):
    now = timezone.now()
    running = make_challenge(name="Three visits", target=Decimal("3"))
    done = make_challenge(name="One visit", target=Decimal("1"), badge=badge)
    make_challenge(name="Next month", starts_at=now + timedelta(days=10), ends_at=now + timedelta(days=40))
    _buy(member_a)
    login(client, member_a)
    response = client.get(reverse("portal:engagement_challenges"))
    assert response.status_code == 200
    assert [v.challenge for v in response.context["active"]] == [running]
    assert [v.challenge for v in response.context["completed"]] == [done]
    assert len(response.context["upcoming"]) == 1
    body = response.content.decode()
    assert "1 of 3" in body or "1 z 3" in body
    assert 'style="' not in body and "<script>" not in body


def test_a_challenge_outside_the_members_audience_is_404(client, member_a, tiers, make_challenge):
    gold_only = make_challenge(audience=Challenge.Audience.TIER, tier=tiers[2])
    everyone = make_challenge()
    login(client, member_a)
    assert client.get(reverse("portal:engagement_challenge", args=[gold_only.code])).status_code == 404
    assert client.get(reverse("portal:engagement_challenge", args=["no-such"])).status_code == 404
    assert client.get(reverse("portal:engagement_challenge", args=[everyone.code])).status_code == 200


def test_badges_and_referrals_show_only_the_members_own(client, member_a, member_b, badge, engagement):
    BadgeAward.objects.create(member=member_b, badge=badge)
    member_enroll(
        actor=None, join_source="referral", referred_by=member_b, first_name="Cezary", last_name="Zet", email="c@x.pl"
    )
    login(client, member_a)
    assert b"Coffee Star Badge" not in client.get(reverse("portal:engagement_badges")).content
    page = client.get(reverse("portal:engagement_refer"))
    assert b"Cezary" not in page.content
    assert member_a.referral_code.encode() in page.content
    assert b"js/engagement.js" in page.content
    login(client, member_b)
    assert b"Coffee Star Badge" in client.get(reverse("portal:engagement_badges")).content
    assert b"Cezary" in client.get(reverse("portal:engagement_refer")).content


def test_leaderboard_opt_in_through_htmx_needs_the_csrf_token(member_a, member_b):
    csrf_client = Client(enforce_csrf_checks=True)
    login(csrf_client, member_a)
    url = reverse("portal:engagement_leaderboard_profile")
    refused = csrf_client.post(url, {"display_name": "Ania", "opted_in": "on"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 403
    assert not LeaderboardProfile.objects.exists()
    page = csrf_client.get(reverse("portal:engagement_leaderboard"))
    token = str(page.context["csrf_token"])
    assert f'"x-csrftoken": "{token}"' in page.content.decode()  # base.html's hx-headers
    saved = csrf_client.post(
        url, {"display_name": "Ania", "opted_in": "on"}, HTTP_HX_REQUEST="true", HTTP_X_CSRFTOKEN=token
    )
    assert saved.status_code == 200
    assert "engagement/partials/_profile_form.html" in [t.name for t in saved.templates]
    assert LeaderboardProfile.objects.get(member=member_a).opted_in


def test_display_names_are_unique_and_shown_only_when_opted_in(client, member_a, member_b):
    url = reverse("portal:engagement_leaderboard_profile")
    login(client, member_a)
    assert client.post(url, {"display_name": "Kawowy Mistrz", "opted_in": "on"}).status_code == 200
    _buy(member_a, "90")
    _buy(member_b, "50")
    login(client, member_b)
    taken = client.post(url, {"display_name": "kawowy mistrz", "opted_in": "on"})
    assert taken.status_code == 400
    board = client.get(reverse("portal:engagement_leaderboard")).context["board"]
    assert [(p.display_name, p.value) for p in board] == [("Kawowy Mistrz", Decimal(90))]
    assert member_a.last_name.encode() not in client.get(reverse("portal:engagement_leaderboard")).content


def test_engagement_pages_refuse_anonymous_and_wrong_methods(client, member_a):
    assert client.get(reverse("portal:engagement_challenges")).status_code == 302
    login(client, member_a)
    assert client.post(reverse("portal:engagement_challenges")).status_code == 405
    assert client.get(reverse("portal:engagement_leaderboard_profile")).status_code == 405


def test_home_shows_the_challenges_card_in_one_query(client, member_a, make_challenge):
    login(client, member_a)
    with CaptureQueriesContext(connection) as without:
        client.get(reverse("portal:home"))
    make_challenge(name="Coffee week")
    with CaptureQueriesContext(connection) as with_card:
        response = client.get(reverse("portal:home"))
    assert b"Coffee week" in response.content
    assert len(with_card) == len(without)
