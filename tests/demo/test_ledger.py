"""The demo's set-based ledger writes (loyalty_site.demo.ledger) against the services they stand in for.

The demo writes sign-up bonuses and expiry in sets because `event_award` and `points_expire`, one member at a
time, would make the default demo about three times slower and the benchmark size impractical. The copies
must write what the services write, so each test runs a copy for one member and the service for another
with the same history, and compares the rows.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from loyalty_site.demo.ledger import lots_expire_bulk, opening_bonuses
from rewards.models import EventRule, LedgerEntry, PointsAccount, PointsLot
from rewards.selectors import ledger_mismatches
from rewards.services import event_award, points_earn, points_expire, points_redeem

SIGN_UP = [("joined", 0, "enrolment"), ("profile_completed", 1, "profile"), ("newsletter_confirmed", 2, "newsletter")]


@pytest.fixture
def event_rules(db):
    Event = EventRule.Event
    EventRule.objects.create(event=Event.JOINED, points=100)
    EventRule.objects.create(event=Event.PROFILE_COMPLETED, points=50)
    EventRule.objects.create(event=Event.NEWSLETTER_CONFIRMED, points=20)


def _entries(member) -> list[tuple]:
    return [
        (kind, bucket, points, reason, reference, rules, key.replace(f":{member.pk}:", ":<member>:"), created_at)
        for kind, bucket, points, reason, reference, rules, key, created_at in LedgerEntry.objects.filter(member=member)
        .order_by("created_at", "id")
        .values_list("kind", "bucket", "points", "reason", "reference", "rules", "idempotency_key", "created_at")
    ]


def _lots(member) -> list[tuple]:
    return list(
        PointsLot.objects.filter(member=member)
        .order_by("earned_at", "id")
        .values_list("points", "remaining", "earned_at", "expires_at")
    )


def test_opening_bonuses_write_what_event_award_writes(make_member, program, event_rules):
    joined_at = timezone.now() - timedelta(days=200)
    bulk, service = make_member(), make_member()

    balances = opening_bonuses(
        [(bulk.pk, event, joined_at + timedelta(hours=hours), reference) for event, hours, reference in SIGN_UP]
    )
    PointsAccount.objects.create(member=bulk, balance=balances[bulk.pk])
    for event, hours, reference in SIGN_UP:
        event_award(member=service, event=event, reference=reference, now=joined_at + timedelta(hours=hours))

    assert _entries(bulk) == _entries(service)
    assert _lots(bulk) == _lots(service)
    assert balances[bulk.pk] == PointsAccount.objects.get(member=service).balance == 170
    # The service finds the copy's entries by their keys and writes nothing again.
    assert (
        event_award(member=bulk, event="joined", reference="enrolment").pk
        == LedgerEntry.objects.get(member=bulk, reference="enrolment").pk
    )
    assert LedgerEntry.objects.filter(member=bulk).count() == 3
    assert ledger_mismatches() == []


def test_lots_expire_bulk_writes_what_points_expire_writes_dated_when_each_lot_ran_out(make_member, program):
    now = timezone.now()

    def history(member) -> None:
        for n, days in enumerate((500, 420, 380, 30)):
            points_earn(
                member=member, points=40, reason="e", idempotency_key=f"e{n}:{member.pk}", at=now - timedelta(days=days)
            )
        points_redeem(member=member, points=70, reason="r", idempotency_key=f"r:{member.pk}")

    service, bulk = make_member(), make_member()
    history(service)
    assert points_expire(now=now) == 2  # the first lot was spent; 10 left of the second, the third whole
    history(bulk)
    assert lots_expire_bulk(now=now, chunk=1) == 2

    def expiries(member) -> list[tuple]:
        """Each expiry entry with its lot, and the lot's expiry; the keys name the lot."""
        entries = LedgerEntry.objects.filter(member=member, kind="expire").order_by("created_at", "id")
        lots = {lot.pk: lot for lot in PointsLot.objects.filter(member=member)}
        rows = []
        for entry in entries:
            lot = lots[int(entry.reference.removeprefix("lot:"))]
            assert entry.idempotency_key == f"expire:{lot.pk}"
            rows.append((entry.bucket, entry.points, entry.reason, lot.earned_at, entry.created_at, lot.expires_at))
        return rows

    # The same entries for the same lots; only the date differs: the service dates its run, the copy the
    # moment each lot ran out (the demo's history shows each expiry when it happened).
    assert [row[:4] for row in expiries(bulk)] == [row[:4] for row in expiries(service)]
    assert [row[1] for row in expiries(bulk)] == [-10, -40]
    assert all(created_at == now for *_row, created_at, _expires_at in expiries(service))
    assert all(created_at == expires_at for *_row, created_at, expires_at in expiries(bulk))
    assert [lot[:2] for lot in _lots(bulk)] == [lot[:2] for lot in _lots(service)]
    assert PointsAccount.objects.get(member=bulk).balance == PointsAccount.objects.get(member=service).balance == 40
    assert points_expire(now=now) == 0
    assert ledger_mismatches() == []
