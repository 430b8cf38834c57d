"""Staff pages: every engagement admin page opens, the roles get their permissions from the migration, the
recalculation action awards once, a challenge without a prize is refused in words."""

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from django.utils import timezone

from rewards.engagement.models import Challenge, ChallengeCompletion
from rewards.services import purchase_post

pytestmark = pytest.mark.django_db

MODELS = [
    "challenge",
    "badge",
    "badgeaward",
    "challengeprogress",
    "challengecompletion",
    "referral",
    "leaderboardprofile",
    "engagementsettings",
]


@pytest.fixture
def admin_client_(client, staff_user):
    client.force_login(staff_user)
    return client


def _role_client(client, role):
    user = get_user_model().objects.create_user(username=f"staff-{role}", password="x", is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", MODELS)
def test_every_engagement_admin_list_opens(admin_client_, model, make_challenge, badge):
    make_challenge(badge=badge)
    response = admin_client_.get(reverse(f"admin:engagement_{model}_changelist"))
    assert response.status_code == 200


def test_the_challenge_add_form_opens_and_refuses_a_challenge_without_a_prize(admin_client_):
    assert admin_client_.get(reverse("admin:engagement_challenge_add")).status_code == 200
    now = timezone.localtime()
    response = admin_client_.post(
        reverse("admin:engagement_challenge_add"),
        {
            "code": "no-prize",
            "name": "No prize",
            "kind": "purchases",
            "target": "3",
            "starts_at_0": now.strftime("%Y-%m-%d"),
            "starts_at_1": "00:00:00",
            "ends_at_0": (now + timedelta(days=3)).strftime("%Y-%m-%d"),
            "ends_at_1": "00:00:00",
            "points": "0",
            "audience": "everyone",
            "is_active": "on",
        },
    )
    assert response.status_code == 200
    assert not Challenge.objects.exists()


def test_marketing_manages_challenges_and_analysts_only_read(client, db):
    marketing = _role_client(client, "Marketing")
    assert marketing.get(reverse("admin:engagement_challenge_add")).status_code == 200
    analyst = _role_client(client, "Analyst")
    assert analyst.get(reverse("admin:engagement_challenge_changelist")).status_code == 200
    assert analyst.get(reverse("admin:engagement_challenge_add")).status_code == 403
    support = _role_client(client, "Support")
    assert support.get(reverse("admin:engagement_referral_changelist")).status_code == 200
    assert support.get(reverse("admin:engagement_challenge_add")).status_code == 403


def test_the_recalculate_action_awards_once(admin_client_, member, program, make_challenge):
    for _ in range(2):
        purchase_post(
            member=member,
            source="pos",
            external_id=uuid.uuid4().hex[:10],
            amount=Decimal("30"),
            purchased_at=timezone.now() - timedelta(hours=1),
        )
    challenge = make_challenge(target=Decimal("2"))
    url = reverse("admin:engagement_challenge_changelist")
    for _ in range(2):
        admin_client_.post(url, {"action": "recalculate", "_selected_action": [challenge.pk]})
    assert ChallengeCompletion.objects.filter(challenge=challenge, member=member).count() == 1
