"""Helpers of the batch tests (and tests/rewards/test_hooks.py): random purchase rows, the same rows posted one
by one, and what is compared. Their fixtures (`pairs`, `rules`, `returns_window`) are in tests/rewards/conftest.py,
which test_hooks.py shares."""

import random
from datetime import timedelta
from decimal import Decimal

from members.models import Purchase, PurchaseLine
from rewards.models import LedgerEntry, PointsAccount, PointsLot, TierChange
from rewards.services import purchase_post
from tests.factories import LineFactory, PurchaseRowFactory

CATEGORIES = ["Spożywcze", "Kosmetyki", "Alkohol", "Dom"]


def random_rows(member_ids, count, *, now, seed=7, days=60):
    """`count` rows for the members, spread over the `days` before `now`; some with lines in CATEGORIES."""
    rng = random.Random(seed)
    rows = []
    for n in range(count):
        amount = Decimal(rng.randint(100, 90000)) / 100
        lines = ()
        if rng.random() < 0.4:
            parts = rng.randint(1, 3)
            share = (amount / parts).quantize(Decimal("0.01"), rounding="ROUND_DOWN")
            lines = tuple(
                LineFactory(sku=f"S{rng.randint(1, 9)}", category=rng.choice(CATEGORIES), amount=share)
                for _ in range(parts)
            )
        rows.append(
            PurchaseRowFactory(
                member_id=rng.choice(member_ids),
                source="pos",
                external_id=f"P{n:05d}",
                amount=amount,
                purchased_at=now - timedelta(days=days * (1 - n / count), minutes=rng.randint(0, 600)),
                store=rng.choice(["online", "WAW01"]),
                lines=lines,
            )
        )
    return rows


def post_one_by_one(rows, twins, *, now, source="till"):
    """The same rows through purchase_post, for twin members, under another source (so new keys)."""
    for row in rows:
        purchase_post(
            member=twins[row.member_id],
            source=source,
            external_id=row.external_id,
            amount=row.amount,
            purchased_at=row.purchased_at,
            store=row.store,
            lines=row.lines,
            now=now,
        )


def snapshot(member):
    """Everything points-related about a member that does not depend on ids or the purchase source."""
    account = PointsAccount.objects.select_related("tier").get(member=member)
    return {
        "balance": account.balance,
        "pending": account.pending,
        "tier": account.tier.code if account.tier else None,
        "tier_since": account.tier_since,
        "tier_below_since": account.tier_below_since,
        # Entries other than purchase credits (a redemption) are stamped with the clock: compare them without it.
        "entries": [
            (*entry[:-1], entry[-1] if entry[0] == "earn" else None)
            for entry in LedgerEntry.objects.filter(member=member)
            .order_by("created_at", "id")
            .values_list(
                "kind",
                "bucket",
                "points",
                "reason",
                "reason_code",
                "reason_params",
                "rules",
                "available_at",
                "purchase__amount",
                "created_at",
            )
        ],
        "lots": list(
            PointsLot.objects.filter(member=member)
            .order_by("earned_at", "id")
            .values_list("points", "remaining", "earned_at", "expires_at", "entry__reason_code", "entry__reason_params")
        ),
        "tier_changes": list(
            TierChange.objects.filter(member=member)
            .order_by("id")
            .values_list("from_tier__code", "to_tier__code", "reason", "reason_code", "reason_params", "changed_at")
        ),
        "purchases": list(
            Purchase.objects.filter(member=member)
            .order_by("purchased_at", "id")
            .values_list("external_id", "amount", "store", "purchased_at", "refunded_amount")
        ),
        "lines": sorted(
            PurchaseLine.objects.filter(purchase__member=member).values_list(
                "purchase__external_id", "sku", "category", "amount", "quantity"
            )
        ),
    }
