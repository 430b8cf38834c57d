"""Engagement fixtures: challenges and settings made the way staff make them (models with their constraints)."""

import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from rewards.engagement.models import Badge, Challenge, EngagementSettings

_codes = itertools.count(1)


@pytest.fixture
def make_challenge(db):
    def make(**kwargs):
        n = next(_codes)
        now = timezone.now()
        defaults = {
            "code": f"challenge-{n}",
            "name": f"Challenge {n}",
            "kind": Challenge.Kind.PURCHASES,
            "target": Decimal("3"),
            "starts_at": now - timedelta(days=30),
            "ends_at": now + timedelta(days=30),
            "points": 500,
        }
        defaults.update(kwargs)
        challenge = Challenge(**defaults)
        challenge.full_clean()
        challenge.save()
        return challenge

    return make


@pytest.fixture
def badge(db):
    return Badge.objects.create(code="coffee-star", name="Coffee Star Badge", description="For coffee lovers")


@pytest.fixture
def engagement(db):
    settings, _ = EngagementSettings.objects.update_or_create(
        pk=1,
        defaults={
            "referral_min_purchase": Decimal("50"),
            "referral_points_referrer": 200,
            "referral_points_referee": 100,
            "referral_monthly_cap": 2,
            "birthday_points": 100,
        },
    )
    return settings


@pytest.fixture(autouse=True)
def _english(english):
    """These tests read the messages in English, as written (the Polish is checked by the catalogue test)."""
    return english
