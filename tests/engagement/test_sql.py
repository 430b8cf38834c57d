"""The engagement app's hand-written SQL (rewards.engagement.sql), each module on its own."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from rewards.engagement.models import BadgeAward, ChallengeProgress, Referral
from rewards.engagement.sql.progress import challenge_progress_write
from rewards.engagement.sql.referrals import referred_members
from rewards.engagement.sql.rows import rows_insert_new

pytestmark = pytest.mark.django_db


def test_referred_members_are_found_with_their_referrer_and_the_referral_so_far(make_member):
    referrer = make_member()
    pending, decided, plain = make_member(referred_by=referrer), make_member(referred_by=referrer), make_member()
    Referral.objects.create(referee=decided, referrer=referrer, status=Referral.Status.REWARDED)

    found = referred_members([plain.pk, pending.pk, decided.pk, referrer.pk])

    assert sorted(found) == sorted([(pending.pk, referrer.pk, None), (decided.pk, referrer.pk, "rewarded")])
    assert referred_members([plain.pk]) == [] and referred_members([]) == []


def test_progress_is_added_to_rows_created_when_missing_and_zeros_are_left_out(make_member, make_challenge):
    first, second = make_member(), make_member()
    challenge = make_challenge()
    at = timezone.now()
    ChallengeProgress.objects.create(challenge=challenge, member=first, value=Decimal("2"))

    written = challenge_progress_write(
        {(challenge.pk, first.pk): Decimal("1.5"), (challenge.pk, second.pk): Decimal("3")}, at=at, add=True
    )

    assert sorted(written) == [(challenge.pk, first.pk, Decimal("3.5")), (challenge.pk, second.pk, Decimal("3"))]
    assert challenge_progress_write({(challenge.pk, second.pk): Decimal(0)}, at=at, add=True) == []
    stored = dict(ChallengeProgress.objects.filter(challenge=challenge).values_list("member_id", "value"))
    assert stored == {first.pk: Decimal("3.5"), second.pk: Decimal("3")}
    assert set(ChallengeProgress.objects.values_list("updated_at", flat=True)) == {at}


def test_progress_set_replaces_what_was_stored_zeros_included(make_member, make_challenge):
    first, second = make_member(), make_member()
    challenge, other = make_challenge(), make_challenge()
    ChallengeProgress.objects.create(challenge=challenge, member=first, value=Decimal("5"))
    ChallengeProgress.objects.create(challenge=other, member=first, value=Decimal("4"))

    written = challenge_progress_write(
        {(challenge.pk, first.pk): Decimal(0), (challenge.pk, second.pk): Decimal("2")}, at=timezone.now(), add=False
    )

    assert sorted(written) == [(challenge.pk, first.pk, Decimal(0)), (challenge.pk, second.pk, Decimal("2"))]
    assert ChallengeProgress.objects.get(challenge=other, member=first).value == Decimal("4")  # not touched


def test_rows_a_unique_constraint_already_holds_are_left_as_they_are(make_member, badge):
    first, second = make_member(), make_member()
    earlier, now = timezone.now() - timedelta(days=3), timezone.now()
    BadgeAward.objects.create(member=first, badge=badge, awarded_at=earlier)
    columns = {"member_id": "bigint", "badge_id": "bigint", "awarded_at": "timestamptz", "challenge_id": "bigint"}

    rows_insert_new(BadgeAward, columns, [(first.pk, badge.pk, now, None), (second.pk, badge.pk, now, None)])
    rows_insert_new(BadgeAward, columns, [(second.pk, badge.pk, now + timedelta(days=1), None)])  # again
    rows_insert_new(BadgeAward, columns, [])

    awarded = dict(BadgeAward.objects.filter(badge=badge).values_list("member_id", "awarded_at"))
    assert awarded == {first.pk: earlier, second.pk: now}
