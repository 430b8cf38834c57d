"""Event points in sets (events_award): the entries, lots, keys and caps event_award wrote one at a time,
for thousands of members in a handful of queries, and the joining bonus of a whole enrolment set."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from loyalty_site.hooks import announce
from members.events import MemberJoined
from members.services import members_enroll_many
from rewards.awards import EventAward, events_award
from rewards.models import EventRule, LedgerEntry, PointsAccount, PointsLot
from rewards.reasons import entry_reason
from rewards.selectors import ledger_mismatches
from rewards.services import add_months, event_award, points_redeem
from tests.factories import EventRuleFactory

WARSAW = ZoneInfo("Europe/Warsaw")
MONDAY = datetime(2026, 3, 2, 10, tzinfo=WARSAW)


@pytest.fixture
def sign_up_rules(db):
    EventRuleFactory(event=EventRule.Event.JOINED, points=100)
    EventRuleFactory(event=EventRule.Event.PROFILE_COMPLETED, points=50)
    return EventRuleFactory(
        event=EventRule.Event.PRODUCT_RATED, points=10, cap_count=2, cap_period=EventRule.Period.WEEK
    )


def test_an_award_writes_a_bonus_entry_a_lot_and_the_balance(make_member, program, sign_up_rules):
    member = make_member()
    joined_at = timezone.now() - timedelta(days=200)

    assert events_award(awards=[EventAward(member.pk, "joined", "enrolment", joined_at)]) == 1

    entry = LedgerEntry.objects.get(member=member)
    assert (entry.kind, entry.bucket, entry.points, entry.reference, entry.rules) == (
        "bonus",
        "available",
        100,
        "enrolment",
        [],
    )
    # What happened, not a sentence: read in the reader's language when shown.
    assert (entry.reason, entry.reason_code, entry.reason_params) == ("", "event", {"event": "joined"})
    assert entry_reason(entry) == str(EventRule.Event.JOINED.label)
    assert entry.idempotency_key == f"event:joined:{member.pk}:enrolment"
    assert entry.created_at == joined_at and entry.purchase_id is None and entry.actor_id is None
    lot = PointsLot.objects.get(entry=entry)
    assert (lot.points, lot.remaining, lot.earned_at) == (100, 100, joined_at)
    assert lot.expires_at == add_months(joined_at, 12)  # the programme's lifetime
    assert PointsAccount.objects.get(member=member).balance == 100
    assert ledger_mismatches() == []


def test_awarding_again_writes_nothing_and_event_award_returns_the_recorded_entry(make_member, program, sign_up_rules):
    member = make_member()
    award = EventAward(member.pk, "joined", "enrolment", timezone.now())
    assert events_award(awards=[award, award]) == 1  # twice in one call: once
    assert events_award(awards=[award]) == 0
    assert event_award(member=member, event="joined", reference="enrolment") == LedgerEntry.objects.get(member=member)
    assert PointsAccount.objects.get(member=member).balance == 100


def test_an_event_without_an_active_rule_earns_nothing(make_member, program, sign_up_rules):
    member = make_member()
    EventRule.objects.filter(event="profile_completed").update(is_active=False)
    assert events_award(awards=[EventAward(member.pk, "profile_completed", "profile", timezone.now())]) == 0
    assert event_award(member=member, event="survey_answered", reference="s1") is None
    assert not LedgerEntry.objects.exists()


def test_the_cap_counts_earlier_awards_and_those_earlier_in_the_same_call(make_member, program, sign_up_rules):
    first, second = make_member(), make_member()
    # Two per week: `first` has one from earlier this week, `second` one from last week.
    event_award(member=first, event="product_rated", reference="r0", now=MONDAY)
    event_award(member=second, event="product_rated", reference="r0", now=MONDAY - timedelta(days=3))
    awards = [
        EventAward(member.pk, "product_rated", f"r{n}", MONDAY + timedelta(days=1, hours=n))
        for n in (1, 2, 3)
        for member in (first, second)
    ]

    assert events_award(awards=awards) == 3

    def references(member):
        return list(
            LedgerEntry.objects.filter(member=member).order_by("created_at").values_list("reference", flat=True)
        )

    assert references(first) == ["r0", "r1"]
    assert references(second) == ["r0", "r1", "r2"]
    # Next week the cap starts again, within the same call as an award of this week.
    next_week = [
        EventAward(first.pk, "product_rated", "r4", MONDAY + timedelta(days=2)),
        EventAward(first.pk, "product_rated", "r5", MONDAY + timedelta(days=7)),
    ]
    assert events_award(awards=next_week) == 1
    assert references(first) == ["r0", "r1", "r5"]
    assert ledger_mismatches() == []


def test_the_set_gives_what_awards_one_by_one_give(make_member, program, sign_up_rules):
    """The same awards for two members, one by one (event_award) and as one set; rows compared."""
    one_by_one, in_a_set = make_member(), make_member()
    plan = [("joined", "enrolment", 0), ("profile_completed", "profile", 1)]
    plan += [("product_rated", f"r{n}", 24 * n) for n in range(6)]
    for event, reference, hours in plan:
        event_award(member=one_by_one, event=event, reference=reference, now=MONDAY + timedelta(hours=hours))
    events_award(
        awards=[EventAward(in_a_set.pk, event, ref, MONDAY + timedelta(hours=hours)) for event, ref, hours in plan]
    )

    def rows(member):
        entries = LedgerEntry.objects.filter(member=member).order_by("created_at", "id")
        return [
            (e.kind, e.bucket, e.points, e.reason, e.reference, e.idempotency_key.replace(str(member.pk), "M"),
             e.created_at, e.lot.points, e.lot.remaining, e.lot.earned_at, e.lot.expires_at)
            for e in entries.select_related("lot")
        ]  # fmt: skip

    assert rows(in_a_set) == rows(one_by_one)
    assert len(rows(in_a_set)) == 4  # joined, profile, two ratings in the week
    balances = PointsAccount.objects.filter(member__in=[one_by_one, in_a_set]).values_list("balance", flat=True)
    assert list(balances) == [170, 170]
    assert ledger_mismatches() == []


def test_many_members_in_a_few_queries_with_their_accounts_created(
    make_member, program, sign_up_rules, django_assert_max_num_queries
):
    members = [make_member() for _ in range(40)]
    PointsAccount.objects.filter(member__in=members[::2]).delete()  # some have no account yet
    now = timezone.now()
    awards = [
        EventAward(m.pk, event, ref, now)
        for m in members
        for event, ref in (("joined", "e"), ("profile_completed", "p"))
    ]

    with django_assert_max_num_queries(15):
        assert events_award(awards=awards) == 80

    assert PointsAccount.objects.filter(member__in=members, balance=150).count() == 40
    assert PointsLot.objects.filter(member__in=members).count() == 80
    points_redeem(member=members[3], points=120, reason="r", idempotency_key="r")  # the lots are spendable
    assert ledger_mismatches() == []


def test_an_enrolment_set_gets_its_joining_bonuses_in_one_call(
    db, program, sign_up_rules, django_assert_max_num_queries
):
    from members.models import Member

    members = members_enroll_many(
        members=[
            Member(
                member_number=f"{9100000000 + n}", first_name="Ola", last_name=f"Nowak{n}", email=f"ola{n}@example.pl"
            )
            for n in range(30)
        ],
        actor=None,
        welcome=True,
    )
    assert LedgerEntry.objects.filter(idempotency_key__startswith="event:joined:").count() == 30
    joined = [
        MemberJoined(
            member_id=m.pk, joined_at=m.joined_at, join_source=m.join_source, referred_by_id=None, welcome=True
        )
        for m in members
    ]
    with django_assert_max_num_queries(12):
        announce(joined)  # announced again: nothing more
    assert LedgerEntry.objects.count() == 30
    assert set(PointsAccount.objects.values_list("balance", flat=True)) == {100}
    assert ledger_mismatches() == []
