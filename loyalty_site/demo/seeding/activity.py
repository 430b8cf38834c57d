"""The demo's purchases (through the batch), refunds, releases, expiry and redemptions (through the services)."""

import random
import time as clock
from datetime import timedelta

from django.db import connection, transaction

from loyalty_site.demo.data import (
    Buyer,
    PlannedPurchase,
    PurchasePlanner,
    showcase_weight,
)
from loyalty_site.demo.seeding.common import (
    MAX_REDEMPTIONS,
    MAX_REFUNDS,
    _accepts,
    _chunks,
)
from members.models import Member, Purchase
from members.services import LineData
from rewards import services
from rewards.batch import PurchaseRow, purchases_post_batch
from rewards.models import PointsAccount
from rewards.reasons import REDEEMED, Reason


class ActivitySeeding:
    """demo_seed's points steps."""

    def seed_purchases(self, buyers: list[Buyer], total: int, showcase_id: int) -> None:
        first_day = self.start.date()
        planner = PurchasePlanner(
            seed=self.seed, first_day=first_day, last_day=self.now.date() - timedelta(days=1), tz=self.tz
        )
        # The showcase member (the demo login) buys often, has points pending and points about to expire.
        showcase = buyers[0]
        others = sum(b.weight * planner.exposure(b.active_from, b.active_until) for b in buyers[1:])
        target = min(6 * len(planner.days) / 30, total / 10)
        weight = showcase_weight(
            target=target,
            showcase_exposure=planner.exposure(showcase.active_from, showcase.active_until),
            others=others,
            total=total,
        )
        buyers[0] = Buyer(showcase_id, weight, showcase.active_from, showcase.active_until, showcase.home_store, 0.5)
        expiring_from = services.add_months(self.now, -12) - timedelta(days=14)
        extra = [(self.now - timedelta(days=2, hours=6), 0), (self.now - timedelta(days=6, hours=3), 0)]
        extra += [(expiring_from + timedelta(days=days, hours=5), 0) for days in (6, 13, 21)]
        extra = [(at, index) for at, index in extra if at.date() >= first_day][: min(total, 5)]

        self.refunded: list[PlannedPurchase] = []
        posted = points = 0
        started = clock.monotonic()
        for chunk in _chunks(planner.stream(buyers, total, extra), self.chunk):
            rows = [self._row(purchase) for purchase in chunk]
            # The batch commits chunk by chunk; on PostgreSQL it splits the members between two processes.
            result = purchases_post_batch(rows, now=self.now, workers=2 if connection.vendor == "postgresql" else 1)
            posted += result.created
            points += result.points
            self.refunded += [purchase for purchase in chunk if purchase.refund]
            rate = posted / max(clock.monotonic() - started, 0.001)
            self.progress(f"Purchases: {posted:,}/{total:,} ({rate:,.0f}/s)")
        self.log(f"Purchases: {posted:,} posted, {points:,} points earned")

    def _row(self, purchase: PlannedPurchase) -> PurchaseRow:
        return PurchaseRow(
            member_id=purchase.member_id,
            source=purchase.source,
            external_id=purchase.external_id,
            amount=purchase.amount,
            purchased_at=purchase.purchased_at,
            store=purchase.store,
            lines=tuple(
                LineData(sku=line.sku, amount=line.amount, category=line.category, product_name=line.product_name)
                for line in purchase.lines
            ),
        )

    def post_refunds(self, showcase_id: int) -> None:
        # refund_post dates a refund now unless it accepts `at`; the planned date is passed when it does.
        # Until then the showcase member, whose history the demo shows first, gets only refunds of recent
        # purchases: a refund today of a purchase from last year would look wrong on her page.
        dated = _accepts(services.refund_post, "at")
        refunds = [
            planned
            for planned in self.refunded
            if dated or planned.member_id != showcase_id or planned.purchased_at > self.now - timedelta(days=30)
        ]
        if len(refunds) > MAX_REFUNDS:
            rng = random.Random(f"{self.seed}:refunds")
            refunds = [refunds[n] for n in sorted(rng.sample(range(len(refunds)), MAX_REFUNDS))]
        done = 0
        for chunk in _chunks(refunds, 1000):
            wanted = [planned.external_id for planned in chunk]
            by_id = {p.external_id: p for p in Purchase.objects.select_related("member").filter(external_id__in=wanted)}
            with transaction.atomic():
                for planned in chunk:
                    refund = planned.refund
                    extra = {"at": min(refund.at, self.now)} if dated else {}
                    services.refund_post(
                        purchase=by_id[planned.external_id],
                        external_id=refund.external_id,
                        amount=refund.amount,
                        reason="Zwrot towaru",
                        **extra,
                    )
                    done += 1
            self.progress(f"Refunds: {done:,}/{len(refunds):,}")
        self.log(f"Refunds: {done:,} (full and partial)")

    def release_and_expire(self) -> None:
        with transaction.atomic():
            released = services.points_release_pending(now=self.now)
        # Each expiry dated when its lot ran out: the history shows it when it happened, not today.
        expired = services.points_expire(now=self.now, dated_at_expiry=True)
        self.log(f"Pending released: {released:,}; expired lots: {expired:,}")

    def redeem(self, showcase_id: int) -> None:
        """About a third of members with 200+ points have spent some on vouchers (100 points = 5 zł)."""
        rng = random.Random(f"{self.seed}:redemptions")
        dated = _accepts(services.points_redeem, "at")
        accounts = list(
            PointsAccount.objects.filter(balance__gte=200).order_by("member_id").values_list("member_id", "balance")
        )
        chosen = [(member_id, balance) for member_id, balance in accounts if rng.random() < 0.35]
        if len(chosen) > MAX_REDEMPTIONS:
            chosen = sorted(rng.sample(chosen, MAX_REDEMPTIONS))
        # The showcase member spent a little: FIFO takes the soonest-expiring points, and some should be left.
        chosen = [(member_id, balance) for member_id, balance in chosen if member_id != showcase_id]
        if dict(accounts).get(showcase_id, 0) >= 400:
            chosen.insert(0, (showcase_id, 200))
        done = 0
        for chunk in _chunks(chosen, 1000):
            with transaction.atomic():
                for member_id, balance in chunk:
                    points = (
                        100 * rng.randint(1, max(1, int(balance * 0.6) // 100)) if member_id != showcase_id else 200
                    )
                    extra = {"at": self.now - timedelta(days=rng.uniform(1, 120))} if dated else {}
                    services.points_redeem(
                        member=Member(pk=member_id),
                        points=points,
                        reason=Reason(REDEEMED, {"reward": f"Bon rabatowy {points // 20} zł"}),
                        idempotency_key=f"demo-redeem:{member_id}",
                        **extra,
                    )
                    done += 1
            self.progress(f"Redemptions: {done:,}/{len(chosen):,}")
        self.log(f"Redemptions: {done:,} vouchers")
