"""Writes of the engagement app: challenge progress and completions, badges, referrals, birthday bonuses.

Everything here works in sets, because the posting paths announce in sets (a batch part announces thousands of
purchases at once): a handful of queries per call, however many events and challenges.

Idempotency, which is what makes "processed twice, awarded once" hold:
- a completion is a row unique per (challenge, member) and its points a ledger entry keyed
  `challenge:<challenge id>:<member id>`;
- a badge is a row unique per (member, badge);
- a referral is a row unique per referee, its points keyed `referral:<referee id>:referrer|referee`;
- a birthday bonus is keyed `birthday:<member id>:<year>`.
Points are written under the members' account locks (taken in member order, as every writer of points takes
them), with a lot each, so the stored balances stay equal to the ledger.

The writes live in one module per concept; this module re-exports their public names for the callers that
import them from here (the receivers, tasks, admin, views, demo):
- awarding: points and rows written in sets, settings, the error type;
- challenges: audiences, progress, completions, recalculation;
- badges, referrals, birthdays, leaderboard.
"""

from .awarding import EngagementError, PointsAward, accounts_lock, engagement_settings, points_award_many
from .badges import badges_award, badges_first_purchase, badges_one_year, badges_tier_reached
from .birthdays import birthday_bonuses_award, birthday_days
from .challenges import (
    PURCHASE_KINDS,
    challenge_recalculate,
    challenges_progress_profiles,
    challenges_progress_purchases,
    challenges_progress_refunds,
    member_in_audience,
    progress_values,
)
from .leaderboard import leaderboard_profile_set, month_bounds
from .referrals import referrals_open, referrals_qualify

__all__ = [
    "PURCHASE_KINDS",
    "EngagementError",
    "PointsAward",
    "accounts_lock",
    "badges_award",
    "badges_first_purchase",
    "badges_one_year",
    "badges_tier_reached",
    "birthday_bonuses_award",
    "birthday_days",
    "challenge_recalculate",
    "challenges_progress_profiles",
    "challenges_progress_purchases",
    "challenges_progress_refunds",
    "engagement_settings",
    "leaderboard_profile_set",
    "member_in_audience",
    "month_bounds",
    "points_award_many",
    "progress_values",
    "referrals_open",
    "referrals_qualify",
]
