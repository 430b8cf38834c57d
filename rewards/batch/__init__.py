"""Posting points for many purchases in one job: the result of `purchase_post` row by row, written in bulk.

A chunk of rows is one transaction. It finds the purchases already recorded, locks the accounts it will
credit in member order (the lock every writer of points takes, so single posts from tills can run beside
it), works out each row's points in memory with the rules loaded once, and writes purchases, lines, ledger
entries and lots in bulk (COPY on PostgreSQL, multi-row INSERTs elsewhere) and the accounts with one UPDATE.

Row by row means: a member's tier can rise during the batch (a purchase that crosses a threshold earns
the next purchase the higher multiplier), as `purchase_post` recalculates the tier after each purchase.
The batch follows the tier in memory, mirroring `tier_recalculate`, and writes the tiers and tier changes
with the chunk. The tests compare the batch with `purchase_post` row by row, so the mirrors cannot drift
unnoticed.

What a part wrote is announced (loyalty_site.hooks) as `purchase_post` announces it, in sets: one
PurchasePosted per purchase recorded anew and one TierChanged per tier change, each type in one call per
committed part, at the end of the part's transaction. Nothing is built while nobody listens.
"""

from .posting import ROUND_CHUNKS, purchases_post_batch
from .reading import recorded_purchases
from .rows import (
    ACCOUNT_FIELDS,
    AVAILABLE,
    EARN,
    ENTRY_COLUMNS,
    PENDING,
    RETRIES,
    ZERO,
    BatchResult,
    PurchaseRow,
    Refusal,
)

__all__ = [
    "ACCOUNT_FIELDS",
    "AVAILABLE",
    "EARN",
    "ENTRY_COLUMNS",
    "PENDING",
    "RETRIES",
    "ROUND_CHUNKS",
    "ZERO",
    "BatchResult",
    "PurchaseRow",
    "Refusal",
    "purchases_post_batch",
    "recorded_purchases",
]
