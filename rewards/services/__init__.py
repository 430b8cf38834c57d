"""Writes to the points economy. Every change of points goes through `_post`, under the account's row lock.

Invariants kept here and in the database: the ledger is append-only (a trigger refuses UPDATE and DELETE),
each entry has a unique idempotency key, `PointsAccount.balance` equals the sum of the member's available
entries and `pending` the sum of the pending ones, and neither is ever negative (CHECK constraints).

What other apps react to (rewards.events, through loyalty_site.hooks) is announced here, in the transaction
that wrote it and only when it was written anew: `purchase_post`, `refund_post`, `points_redeem` and
`_apply_tier` (every tier change of the single paths); the batch announces its own in sets (rewards.batch).

The package by concept: `accounts` (the account lock and `_post`, the one writer), `points` (earn, redeem,
adjust, reverse), `purchases` (the single purchase path and refunds), `release` (pending release, expiry),
`tiers`, `bonuses` (event awards) and `merge`. Import from `rewards.services`; the modules are its inside.
"""

# Imported from here before the package existed: the planning step's calendar helpers.
from ..planning import add_months, expiry_for
from .accounts import AVAILABLE, PENDING, InsufficientPoints, PointsError, account_lock, program_settings
from .bonuses import event_award, member_profile_is_complete
from .merge import members_merge
from .points import MAX_ADJUSTMENT, adjustment_problem, points_adjust, points_earn, points_redeem, points_reverse
from .purchases import (
    PostedPurchase,
    purchase_categories,
    purchase_earn_key,
    purchase_for_points,
    purchase_post,
    refund_post,
)
from .release import points_expire, points_release_pending
from .tiers import CENT, tier_progress_value, tier_recalculate, tiers_recalculate_all

__all__ = [
    "AVAILABLE",
    "CENT",
    "MAX_ADJUSTMENT",
    "PENDING",
    "InsufficientPoints",
    "PointsError",
    "PostedPurchase",
    "account_lock",
    "add_months",
    "adjustment_problem",
    "event_award",
    "expiry_for",
    "member_profile_is_complete",
    "members_merge",
    "points_adjust",
    "points_earn",
    "points_expire",
    "points_redeem",
    "points_release_pending",
    "points_reverse",
    "program_settings",
    "purchase_categories",
    "purchase_earn_key",
    "purchase_for_points",
    "purchase_post",
    "refund_post",
    "tier_progress_value",
    "tier_recalculate",
    "tiers_recalculate_all",
]
