"""The points economy's events (rewards.events through loyalty_site.hooks): every subscriber hears each
purchase posted, refund, redemption and tier change exactly once, on every path (the single services, the
batch in one or two processes, the purchases import with and without rounds), also when a batch part or an
import is run again after an interruption; on-commit receivers never hear what rolled back.

The receivers record what they hear where forked batch processes can write too: a file appended to with
O_APPEND (every call of an in-transaction receiver, and every call of an on-commit one) and a table written
in the transaction (what in-transaction receivers wrote and kept). Transactional tests: the processes need
committed data and their own connections, and on-commit receivers need real commits."""

import json
import os
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty_site import hooks
from loyalty_site.files import importing
from loyalty_site.files.importing import import_apply, import_preview
from members.models import Member, Purchase
from rewards import resources
from rewards.batch import purchases_post_batch
from rewards.events import PointsRedeemed, PurchasePosted, PurchaseRefunded, TierChanged
from rewards.models import LedgerEntry, TierChange
from rewards.selectors import ledger_mismatches
from rewards.services import points_earn, points_redeem, purchase_post, refund_post, tiers_recalculate_all
from tests.factories import EarningRuleFactory, LineFactory, MemberFactory, PurchaseFactory, PurchaseRowFactory

from .batch.support import post_one_by_one, random_rows
from .test_imports import job, purchases_csv

pytestmark = pytest.mark.django_db(transaction=True)

EVENTS = (PurchasePosted, PurchaseRefunded, PointsRedeemed, TierChanged)
KEPT_TABLE = "test_hooks_kept"


@pytest.fixture(autouse=True)
def _postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("the batch's processes and the retry need PostgreSQL")


def _line(event) -> dict:
    # `referred` is a hint only the single post can give (the batch leaves it unknown): not what happened.
    data = {k: v for k, v in asdict(event).items() if k != "referred"}
    return {"type": type(event).__name__, **json.loads(json.dumps(data, default=str))}


class FileRecorder:
    """Appends one line per event heard, with the call it came in: forked processes append to the same file."""

    def __init__(self, path):
        self.path = path

    def __call__(self, events):
        call = uuid.uuid4().hex
        data = "".join(json.dumps({"call": call, **_line(event)}) + "\n" for event in events).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            assert os.write(fd, data) == len(data)
        finally:
            os.close(fd)

    def heard(self, event_type=None) -> list[dict]:
        if not self.path.exists():
            return []
        lines = [json.loads(line) for line in self.path.read_text().splitlines()]
        return [line for line in lines if event_type is None or line["type"] == event_type.__name__]

    def calls(self, event_type) -> int:
        return len({line["call"] for line in self.heard(event_type)})


class TableRecorder:
    """Writes each event into a table in the announcing transaction: what is there, was kept."""

    def __call__(self, events):
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {KEPT_TABLE} (line) VALUES (%s)",
                [(json.dumps(_line(event)),) for event in events],
            )

    def heard(self, event_type=None) -> list[dict]:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT line FROM {KEPT_TABLE} ORDER BY id")
            lines = [json.loads(line) for (line,) in cursor.fetchall()]
        return [line for line in lines if event_type is None or line["type"] == event_type.__name__]


@dataclass
class Heard:
    calls: FileRecorder  # in the transaction: every call, also from a transaction that rolled back later
    kept: TableRecorder  # in the transaction: what it wrote and kept (committed)
    committed: FileRecorder  # on commit


@pytest.fixture
def heard(tmp_path):
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {KEPT_TABLE} (id bigserial PRIMARY KEY, line text NOT NULL)")
    recorders = Heard(FileRecorder(tmp_path / "calls.jsonl"), TableRecorder(), FileRecorder(tmp_path / "commit.jsonl"))
    try:
        for event_type in EVENTS:
            hooks.receiver(event_type)(recorders.calls)
            hooks.receiver(event_type)(recorders.kept)
            hooks.receiver(event_type, on_commit=True)(recorders.committed)
        yield recorders
    finally:
        for event_type in EVENTS:
            for recorder in (recorders.calls, recorders.kept, recorders.committed):
                hooks.unregister(event_type, recorder)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {KEPT_TABLE}")


def without_call(lines: list[dict]) -> list[dict]:
    return [{k: v for k, v in line.items() if k != "call"} for line in lines]


def assert_heard_once_each(heard: Heard, event_type, expected: list[dict]) -> None:
    """Every receiver heard exactly these events of the type, once each."""
    assert without_call(heard.calls.heard(event_type)) == expected
    assert heard.kept.heard(event_type) == expected
    assert without_call(heard.committed.heard(event_type)) == expected


# --- The single services ------------------------------------------------------------------------------


def test_has_receivers_follows_registration(tmp_path):
    recorder = FileRecorder(tmp_path / "x.jsonl")
    # The installed apps' own receivers (rewards.engagement's) stay registered around the test's.
    before = {event_type: hooks.receivers(event_type) for event_type in (PurchasePosted, TierChanged)}
    with hooks.receiving(PurchasePosted, recorder, on_commit=True):
        assert hooks.has_receivers(PurchasePosted)
        assert hooks.receivers(PurchasePosted) == [*before[PurchasePosted], recorder]
        assert hooks.receivers(TierChanged) == before[TierChanged]
    assert hooks.receivers(PurchasePosted) == before[PurchasePosted]
    assert recorder not in hooks.receivers(PurchasePosted)


def test_a_purchase_posted_is_announced_once_and_posting_it_again_announces_nothing(member, program, heard):
    EarningRuleFactory(name="Kosmetyki x2", kind="multiplier", multiplier=Decimal("2"), category="Kosmetyki")
    at = timezone.now() - timedelta(days=1)
    lines = (
        LineFactory(category="Kosmetyki", amount=Decimal("30")),
        LineFactory(category="", amount=Decimal("10")),
        LineFactory(category="Dom", amount=Decimal("20")),
        LineFactory(category="Kosmetyki", amount=Decimal("10")),
    )
    posted = purchase_post(
        member=member, source="pos", external_id="P1", amount=Decimal("80.00"), purchased_at=at, lines=lines
    )
    again = purchase_post(
        member=member, source="pos", external_id="P1", amount=Decimal("80.00"), purchased_at=at, lines=lines
    )

    assert again.created is False
    assert_heard_once_each(
        heard,
        PurchasePosted,
        [
            {
                "type": "PurchasePosted",
                "member_id": member.pk,
                "purchase_id": posted.purchase.pk,
                "amount": "80.00",
                "purchased_at": str(at),
                "store": "online",
                "source": "pos",
                "categories": ["Kosmetyki", "Dom"],
                "points": posted.entry.points,
            }
        ],
    )
    assert posted.entry.points > 80  # the cosmetics earned more than the base rate


def test_a_purchase_that_earns_nothing_is_announced_with_zero_points(member, program, heard):
    posted = purchase_post(member=member, source="pos", external_id="P0", amount=Decimal("0.40"))

    assert posted.entry is None
    assert [line["points"] for line in heard.committed.heard(PurchasePosted)] == [0]


def test_a_refund_is_announced_once_with_the_points_taken_back(member, program, heard):
    purchase = PurchaseFactory(member=member, amount=Decimal("100.00"))
    refund, _entry = refund_post(purchase=purchase, external_id="Z1", amount=Decimal("40.00"))
    refund_post(purchase=purchase, external_id="Z1", amount=Decimal("40.00"))  # the same refund again

    assert_heard_once_each(
        heard,
        PurchaseRefunded,
        [
            {
                "type": "PurchaseRefunded",
                "member_id": member.pk,
                "purchase_id": purchase.pk,
                "refund_id": refund.pk,
                "amount": "40.00",
                "points": 40,
            }
        ],
    )


def test_a_redemption_is_announced_once(member, program, heard):
    PurchaseFactory(member=member, amount=Decimal("100.00"))
    entry = points_redeem(member=member, points=30, reason="Nagroda", idempotency_key="redeem-1", reference="kubek")
    points_redeem(member=member, points=30, reason="Nagroda", idempotency_key="redeem-1", reference="kubek")

    assert_heard_once_each(
        heard,
        PointsRedeemed,
        [{"type": "PointsRedeemed", "member_id": member.pk, "entry_id": entry.pk, "points": 30, "reference": "kubek"}],
    )


def test_a_tier_up_and_a_tier_down_are_announced_once_each(member, program, tiers, heard):
    bronze, silver, _gold = tiers
    now = timezone.now()
    posted = purchase_post(member=member, source="pos", external_id="P1", amount=Decimal("1200"), now=now)
    refund_post(purchase=posted.purchase, external_id="Z1", amount=Decimal("1200"))  # below: grace starts
    later = now + timedelta(days=program.tier_grace_days + 1)
    tiers_recalculate_all(now=later)
    tiers_recalculate_all(now=later)  # nothing left to change

    assert_heard_once_each(
        heard,
        TierChanged,
        [
            {"type": "TierChanged", "member_id": member.pk, "from_tier_id": None, "to_tier_id": silver.pk}
            | {"changed_at": str(now)},
            {"type": "TierChanged", "member_id": member.pk, "from_tier_id": silver.pk, "to_tier_id": bronze.pk}
            | {"changed_at": str(later)},
        ],
    )
    assert TierChange.objects.filter(member=member).count() == 2


def test_announcing_to_a_receiver_adds_no_query_to_a_post(program, tiers, tmp_path):
    quiet, listened = MemberFactory.create_batch(2)
    for member in (quiet, listened):  # a member's first post creates the account
        PurchaseFactory(member=member, amount=Decimal("10"))
    with CaptureQueriesContext(connection) as without:
        purchase_post(member=quiet, source="pos", external_id="Q1", amount=Decimal("10"))
    recorder = FileRecorder(tmp_path / "heard.jsonl")
    with hooks.receiving(PurchasePosted, recorder), CaptureQueriesContext(connection) as with_receiver:
        purchase_post(member=listened, source="pos", external_id="Q2", amount=Decimal("10"))

    assert len(recorder.heard(PurchasePosted)) == 1
    assert len(with_receiver) == len(without)


# --- Rolling back -------------------------------------------------------------------------------------


def test_an_on_commit_receiver_does_not_hear_a_post_that_rolled_back(member, program, heard):
    with pytest.raises(RuntimeError), transaction.atomic():
        purchase_post(member=member, source="pos", external_id="P1", amount=Decimal("100"))
        raise RuntimeError("the caller's transaction fails after the post")

    assert len(heard.calls.heard(PurchasePosted)) == 1  # heard inside the transaction...
    assert heard.kept.heard() == []  # ...and what it wrote rolled back with it
    assert heard.committed.heard() == []
    assert not Purchase.objects.exists()


def test_an_on_commit_receiver_does_not_hear_a_batch_that_rolled_back(member, program, heard):
    rows = PurchaseRowFactory.build_batch(3, member=member, amount=Decimal("10"))
    with pytest.raises(RuntimeError), transaction.atomic():
        purchases_post_batch(rows, workers=2)  # inside a transaction: posted in this process
        raise RuntimeError("the caller's transaction fails after the batch")

    assert len(heard.calls.heard(PurchasePosted)) == 3
    assert heard.kept.heard() == [] and heard.committed.heard() == []


def _challenge_bonus(events):
    """A subscriber that writes points, as a challenge would."""
    for event in events:
        points_earn(
            member=Member(pk=event.member_id), points=5, reason="Challenge", idempotency_key=f"ch:{event.purchase_id}"
        )


def _broken(events):
    raise ValueError("the receiver failed")


@pytest.mark.parametrize("path", ["single", "batch", "batch in processes"])
def test_a_receiver_that_raises_fails_the_post_and_rolls_back_what_other_receivers_wrote(program, heard, path):
    members = MemberFactory.create_batch(2)
    now = timezone.now()
    with (
        hooks.receiving(PurchasePosted, _challenge_bonus),
        hooks.receiving(PurchasePosted, _broken),
        pytest.raises(ValueError, match="the receiver failed"),
    ):
        if path == "single":
            purchase_post(member=members[0], source="pos", external_id="P1", amount=Decimal("100"), now=now)
        else:
            rows = [PurchaseRowFactory(member=m, amount=Decimal("100"), purchased_at=now) for m in members]
            purchases_post_batch(rows, now=now, workers=1 if path == "batch" else 2)

    assert not Purchase.objects.exists()
    assert not LedgerEntry.objects.exists()  # neither the purchase's points nor the challenge's
    assert heard.kept.heard() == [] and heard.committed.heard() == []
    assert ledger_mismatches() == []


# --- The batch ----------------------------------------------------------------------------------------


def _normalised(lines: list[dict], originals: dict[int, int]) -> list[dict]:
    """Events of twin members told apart from their originals' only by ids: named by member and receipt."""
    receipts = dict(Purchase.objects.values_list("pk", "external_id"))
    result = []
    for line in without_call(lines):
        line = dict(line, member_id=originals.get(line["member_id"], line["member_id"]))
        if "purchase_id" in line:
            line["purchase_id"] = receipts[line.pop("purchase_id")]
            line.pop("source")
        result.append(line)
    return sorted(result, key=json.dumps)


@pytest.mark.concurrency
@pytest.mark.parametrize("workers", [1, 2])
def test_the_batch_announces_in_sets_what_posting_one_by_one_announces(pairs, returns_window, rules, heard, workers):
    now = timezone.now()
    rows = random_rows(list(pairs), 80, now=now)
    rows.insert(40, rows[3])  # a repeat within the batch: skipped, not announced

    result = purchases_post_batch(rows, now=now, chunk_size=7, workers=workers)
    batch_calls = {event_type: heard.calls.calls(event_type) for event_type in (PurchasePosted, TierChanged)}
    batch_heard = heard.committed.heard()
    assert (result.created, result.skipped, result.tier_changes) == (80, 1, TierChange.objects.count())
    post_one_by_one(rows[:40] + rows[41:], pairs, now=now)

    originals = {twin.pk: original for original, twin in pairs.items()}
    by_type = Counter(line["type"] for line in batch_heard)
    assert by_type == {"PurchasePosted": 80, "TierChanged": result.tier_changes} and result.tier_changes > 0
    for event_type in (PurchasePosted, TierChanged):
        theirs = [line for line in heard.committed.heard(event_type) if line["member_id"] in originals]
        mine = [line for line in batch_heard if line["type"] == event_type.__name__]
        assert _normalised(mine, originals) == _normalised(theirs, originals)
        for recorder in (heard.calls, heard.kept):
            assert sorted(map(json.dumps, without_call(recorder.heard(event_type)))) == sorted(
                map(json.dumps, without_call(heard.committed.heard(event_type)))
            )
    # In sets: one call per type and committed part, never one per row (each process cuts its own parts).
    if workers == 1:
        assert batch_calls[PurchasePosted] == 12  # 81 rows in chunks of 7
    assert batch_calls[PurchasePosted] < 81 and batch_calls[TierChanged] <= batch_calls[PurchasePosted]

    before = len(heard.calls.heard())
    again = purchases_post_batch(rows, now=now, chunk_size=7, workers=workers)

    assert (again.created, again.skipped) == (0, 81)
    assert len(heard.calls.heard()) == before  # the same batch again announces nothing
    assert ledger_mismatches() == []


@pytest.fixture
def deadlock_once():
    """The first COPY into the purchases table fails with PostgreSQL's deadlock error, as if it had been
    chosen as the victim of a real deadlock; later ones pass. A sequence counts, outside any transaction."""
    table = connection.ops.quote_name(Purchase._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute("CREATE SEQUENCE test_hooks_deadlock_once")
        cursor.execute(
            "CREATE FUNCTION test_hooks_deadlock_once() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF nextval('test_hooks_deadlock_once') = 1 THEN "
            "RAISE EXCEPTION 'deadlock detected (test)' USING ERRCODE = '40P01'; END IF; RETURN NULL; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER test_hooks_deadlock_once AFTER INSERT ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION test_hooks_deadlock_once()"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS test_hooks_deadlock_once ON {table}")
            cursor.execute("DROP FUNCTION IF EXISTS test_hooks_deadlock_once()")
            cursor.execute("DROP SEQUENCE IF EXISTS test_hooks_deadlock_once")


def test_a_part_retried_after_a_deadlock_announces_only_from_the_attempt_that_commits(
    program, tiers, heard, deadlock_once
):
    members = MemberFactory.create_batch(3)
    now = timezone.now()
    rows = [PurchaseRowFactory(member=members[n % 3], amount=Decimal("700"), purchased_at=now) for n in range(6)]

    result = purchases_post_batch(rows, now=now)

    with connection.cursor() as cursor:
        cursor.execute("SELECT last_value FROM test_hooks_deadlock_once")
        assert cursor.fetchone()[0] == 2  # the first attempt failed, the second committed
    assert result.created == 6
    purchases = sorted(Purchase.objects.values_list("pk", flat=True))
    for recorder in (heard.calls, heard.kept, heard.committed):
        assert sorted(line["purchase_id"] for line in recorder.heard(PurchasePosted)) == purchases
        # Each member crossed into silver (1,400 zł), after none: two changes each, one set.
        assert Counter(line["member_id"] for line in recorder.heard(TierChanged)) == {m.pk: 2 for m in members}
    assert heard.calls.calls(PurchasePosted) == heard.calls.calls(TierChanged) == 1


# --- The purchases import -----------------------------------------------------------------------------


@pytest.fixture
def import_members(db, settings, tmp_path, monkeypatch):
    settings.MEDIA_ROOT = tmp_path
    monkeypatch.setattr(importing.applying, "ROUND_ROWS", 10)  # rounds of two chunks of 5
    return MemberFactory.create_batch(5)


@pytest.mark.concurrency
def test_an_import_in_rounds_continued_after_an_interruption_announces_each_purchase_once(
    import_members, program, staff_user, heard, settings, monkeypatch
):
    settings.IMPORT_WORKERS = 2
    previewed = import_preview(job=job("purchases", purchases_csv(import_members, 25), staff_user), chunk_size=5)
    real = resources.PurchaseImport.apply_outside
    rounds = []

    def stopped_after_posting_the_second_round(self, outcomes, **kwargs):
        rounds.append(1)
        posted = real(self, outcomes, **kwargs)
        if len(rounds) == 2:
            raise SystemExit("worker killed before the checkpoint")
        return posted

    monkeypatch.setattr(resources.PurchaseImport, "apply_outside", stopped_after_posting_the_second_round)
    with pytest.raises(SystemExit):
        import_apply(job=previewed, chunk_size=5)
    assert len(heard.committed.heard(PurchasePosted)) == 20  # two rounds posted, the checkpoint after the first
    monkeypatch.setattr(resources.PurchaseImport, "apply_outside", real)

    done = import_apply(job=previewed, chunk_size=5)

    assert done.options["applied"] == {"new": 25}
    purchases = sorted(Purchase.objects.values_list("pk", flat=True))
    assert len(purchases) == 25
    for recorder in (heard.calls, heard.kept, heard.committed):
        assert sorted(line["purchase_id"] for line in recorder.heard(PurchasePosted)) == purchases
    assert ledger_mismatches() == []


def test_an_import_in_chunks_continued_after_an_interruption_announces_each_purchase_once(
    import_members, program, staff_user, heard, settings, monkeypatch
):
    settings.IMPORT_WORKERS = 1
    previewed = import_preview(job=job("purchases", purchases_csv(import_members, 25), staff_user), chunk_size=5)
    real = resources.PurchaseImport.apply
    chunks = []

    def stopped_in_the_third_chunk(self, outcomes, **kwargs):
        chunks.append(1)
        real(self, outcomes, **kwargs)
        if len(chunks) == 3:
            raise SystemExit("worker killed before the chunk committed")

    monkeypatch.setattr(resources.PurchaseImport, "apply", stopped_in_the_third_chunk)
    with pytest.raises(SystemExit):
        import_apply(job=previewed, chunk_size=5)
    assert Purchase.objects.count() == 10  # the third chunk rolled back with its checkpoint
    monkeypatch.setattr(resources.PurchaseImport, "apply", real)

    done = import_apply(job=previewed, chunk_size=5)

    assert done.options["applied"] == {"new": 25}
    purchases = sorted(Purchase.objects.values_list("pk", flat=True))
    assert len(purchases) == 25
    for recorder in (heard.kept, heard.committed):
        assert sorted(line["purchase_id"] for line in recorder.heard(PurchasePosted)) == purchases
    # In the transaction, the receivers heard the rolled-back chunk too; what they wrote then went with it.
    assert len(heard.calls.heard(PurchasePosted)) == 30
    assert heard.committed.calls(PurchasePosted) == 5  # one set per chunk
