"""rewards.planning: the one validator of a purchase and the one tier state machine, without the database."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import translation

from members.services import LineData
from rewards.models import Tier
from rewards.planning import purchase_problems, tier_move
from rewards.reasons import TIER_DOWNGRADE, TIER_QUALIFIED, TIER_UPGRADE, Reason


def problems(**given):
    purchase = {"source": "pos", "external_id": "R-1", "amount": Decimal("100.00"), "store": "online"} | given
    with translation.override("en"):
        return [(p.about, p.message, p.line) for p in purchase_problems(**purchase)]


def test_a_valid_purchase_has_no_problems():
    assert problems(lines=[LineData(sku="A", amount=Decimal("100.00"))], member_id=1, member_status="active") == []


def test_each_refusal_has_one_wording_and_says_what_it_is_about():
    assert problems(member_id=7, member_status=None) == [("member", "No member with id 7.", None)]
    assert problems(member_id=7, member_status="active", recorded_for=(8, "1000000008")) == [
        ("recorded", "Purchase R-1 from pos is already recorded for member 1000000008.", None)
    ]
    assert problems(amount=Decimal("-1")) == [("amount", "A purchase amount cannot be negative.", None)]
    assert problems(amount=Decimal("1e10")) == [("amount", "The purchase amount is too large.", None)]
    assert problems(lines=[LineData(sku="A", amount=Decimal("60")), LineData(sku="B", amount=Decimal("50"))]) == [
        ("lines", "The line amounts add up to more than the purchase amount.", None)
    ]
    assert problems(lines=[LineData(sku="A" * 41, amount=Decimal("1"))]) == [
        ("sku", "A line's SKU is longer than 40 characters.", 0)
    ]


def test_the_same_member_or_an_unchecked_member_is_no_problem():
    # A purchase recorded for the same member is a repeat, which the paths skip.
    assert problems(member_id=8, recorded_for=(8, "1000000008")) == []
    assert problems(member_id=8) == []


def test_problems_come_most_important_first():
    found = problems(member_id=7, member_status="suspended", member_number="1000000007", amount=Decimal("-1"))
    assert [about for about, _message, _line in found] == ["member", "amount"]


NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
SILVER = Tier(pk=1, code="silver", name="Silver", rank=0, threshold=Decimal("100"), basis="spend")
GOLD = Tier(pk=2, code="gold", name="Gold", rank=1, threshold=Decimal("1000"), basis="spend")


def move(tier, spend, below_since=None, grace_days=30):
    return tier_move(
        current_tier=tier,
        below_since=below_since,
        progress_value={"spend": Decimal(spend)},
        tiers=[SILVER, GOLD],
        now=NOW,
        grace_days=grace_days,
    )


def test_a_tier_is_reached_at_once():
    assert move(None, 100).change == (None, SILVER, Reason(TIER_QUALIFIED))
    reached = move(SILVER, 1500, below_since=NOW - timedelta(days=3))
    assert (reached.tier, reached.below_since, reached.change) == (GOLD, None, (SILVER, GOLD, Reason(TIER_UPGRADE)))


def test_falling_below_starts_the_grace_and_the_downgrade_waits_for_its_end():
    below = move(GOLD, 500)
    assert (below.tier, below.below_since, below.change, below.changed) == (GOLD, NOW, None, True)
    waiting = move(GOLD, 500, below_since=NOW - timedelta(days=29))
    assert (waiting.tier, waiting.change, waiting.changed) == (GOLD, None, False)
    down = move(GOLD, 50, below_since=NOW - timedelta(days=30))
    assert (down.tier, down.below_since) == (None, None)
    assert down.change == (GOLD, None, Reason(TIER_DOWNGRADE, {"days": 30}))


def test_back_at_the_tier_stops_the_grace_and_staying_changes_nothing():
    back = move(GOLD, 1000, below_since=NOW - timedelta(days=10))
    assert (back.tier, back.below_since, back.change, back.changed) == (GOLD, None, None, True)
    assert move(GOLD, 2000).changed is False
    assert move(None, 10).changed is False


def test_a_plan_has_the_points_where_they_go_and_the_tier_they_lead_to():
    from rewards.earning import RuleSet
    from rewards.models import ProgramSettings
    from rewards.planning import PENDING, PlanConfig, Standing, plan_purchase

    settings = ProgramSettings(pending_days=14, points_lifetime_months=12, tier_window_months=12, tier_grace_days=30)
    config = PlanConfig.at(
        ruleset=RuleSet(base_rate=Decimal("1"), cap=None, rules=()), settings=settings, tiers=[SILVER, GOLD], now=NOW
    )

    def plan(purchased_at, spend):
        return plan_purchase(
            external_id="R-1",
            amount=Decimal("200.00"),
            store="online",
            purchased_at=purchased_at,
            lines=(),
            standing=Standing(SILVER, None, {"spend": Decimal(spend)}),
            config=config,
        )

    fresh = plan(NOW, 900)
    assert (fresh.points, fresh.bucket, fresh.available_at) == (200, PENDING, NOW + timedelta(days=14))
    assert fresh.progress["spend"] == Decimal("1100.00") and fresh.tier.change == (SILVER, GOLD, Reason(TIER_UPGRADE))
    old = plan(NOW - timedelta(days=20), 0)
    assert (old.bucket, old.expires_at) == ("available", datetime(2027, 2, 23, 12, tzinfo=UTC))
    assert old.tier.changed is False


def test_the_purchases_import_refuses_a_member_who_is_not_active_in_the_words_of_every_path(
    make_member, program, staff_user, settings, tmp_path
):
    from loyalty_site.files.importing import import_preview
    from loyalty_site.files.models import ImportRowError
    from members.models import Member
    from tests.rewards.test_imports import job, purchases_csv

    settings.MEDIA_ROOT = tmp_path
    members = [make_member(), make_member()]
    Member.objects.filter(pk=members[1].pk).update(status=Member.Status.SUSPENDED)
    previewed = import_preview(job=job("purchases", purchases_csv(members, 2), staff_user))
    errors = list(ImportRowError.objects.filter(job=previewed).values_list("line", "column", "message"))
    assert errors == [(3, "member_number", f"Członek {members[1].member_number} jest zawieszony.")]
