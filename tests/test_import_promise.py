"""The preview is a promise: whatever a file holds, the import applies exactly the rows the preview called valid.

For every kind of import, files mixing valid rows with hostile cells (NUL, huge and negative numbers, many digits
or decimal places, over-long and odd text, dates at the ends of the calendar, empty cells, formula prefixes) are
previewed and imported with "only the valid rows" on real PostgreSQL. The import must end done, without an
exception, having written as many rows as the preview counted as new or changed, and the ledger must still add up.

Examples share the test's database: each example's rows have keys of their own, and the counts are compared as
differences, so what earlier examples imported does not matter.
"""

import csv
import io
import itertools
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty_site.files.importing import import_apply, import_job_create, import_preview
from loyalty_site.files.models import ImportJob
from members.models import Member, Purchase, PurchaseLine, Refund
from rewards.models import LedgerEntry, Partner, Reward
from rewards.selectors import ledger_mismatches
from rewards.services import points_adjust, purchase_post
from tests.factories import PartnerFactory, RewardFactory

PROMISE = settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Blank lines after the header push the rows past the first 64 KB the reader checks the encoding on, where a
# NUL byte used to slip through to the database.
PADDING = "\n" * (64 * 1024 + 1)

_unique = itertools.count(1)

HOSTILE = st.sampled_from(
    [
        "\x00",
        "ab\x00cd",
        "1000000000000",
        "999999999",
        "-999999999",
        "2147483648",
        "-2147483649",
        "99999999999999999999999999",
        "1e12",
        "9999999999,99",
        "99999999,99",
        "12345678901.5",
        "0,0001",
        "1.234567",
        "-0,01",
        "NaN",
        "Infinity",
        "1_000",
        "x" * 300,
        "ż" * 65,
        "😀" * 41,
        "0001-01-01",
        "01.01.0001 00:00",
        "9999-12-31 23:59",
        "31.12.9999 23:59",
        "2026-02-30",
        "",
        "   ",
        "=1+1",
        "+48 601",
        "-50",
        "@SUM(A1)",
        "'=HYPERLINK()",
        "\t",
        "a;b",
        'a"b',
        "line\nbreak",
    ]
) | st.text(max_size=70)


def cell(valid) -> st.SearchStrategy:
    """Mostly a valid value, sometimes a hostile one."""
    return st.one_of(valid, valid, valid, HOSTILE)


def past_moment(days: int = 30) -> str:
    return (timezone.localtime() - timedelta(days=days)).strftime("%d.%m.%Y 12:00")


def csv_bytes(header: list[str], rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    writer.writerow(header)
    buffer.write(PADDING)
    for row in rows:
        writer.writerow([row.get(column, "") for column in header])
    return buffer.getvalue().encode("utf-8")


def run(kind: str, content: bytes, user, *, options: dict | None = None, lines: bytes | None = None) -> ImportJob:
    extra = {}
    if lines is not None:
        extra = {"lines_file": SimpleUploadedFile("lines.csv", lines), "lines_name": "lines.csv"}
    job = import_job_create(
        kind=kind,
        file=SimpleUploadedFile(f"{kind}.csv", content),
        name=f"{kind}.csv",
        user=user,
        only_valid_rows=True,
        options=options or {},
        **extra,
    )
    previewed = import_preview(job=job)
    assert previewed.status == ImportJob.Status.PREVIEWED, previewed.error_message
    return import_apply(job=previewed)


def written(counts: dict) -> int:
    return counts.get("new", 0) + counts.get("update", 0)


def assert_kept(done: ImportJob, *, added: int, new: int | None = None) -> None:
    """The import did what the preview promised: done, the same rows new or changed, that many written."""
    assert done.status == ImportJob.Status.DONE, done.error_message
    applied = done.options.get("applied", {})
    assert written(applied) == written(done.counts), (done.counts, applied)
    assert added == (done.counts.get("new", 0) if new is None else new), (done.counts, added)
    assert ledger_mismatches() == []


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def people(make_member, program):
    return [make_member() for _ in range(3)]


def keyed(prefix: str) -> st.SearchStrategy:
    """A fresh key for the row (drawn when the file is written), or a hostile one."""
    return st.one_of(st.just(None), st.just(None), st.just(None), HOSTILE).map(
        lambda value: f"{prefix}-{next(_unique)}" if value is None else value
    )


# --- Members ---------------------------------------------------------------------------------------

MEMBER_HEADER = ["member_number", "first_name", "last_name", "email", "phone", "birth_date", "city", "joined_at"]


def member_rows(existing: list[str]) -> st.SearchStrategy:
    number = st.one_of(
        st.builds(lambda: str(7_000_000_000 + next(_unique))),
        st.builds(lambda: str(7_000_000_000 + next(_unique))),
        st.sampled_from(existing),
        HOSTILE,
    )
    row = st.fixed_dictionaries(
        {
            "member_number": number,
            "first_name": cell(st.sampled_from(["Zofia", "Łucja", "Jan"])),
            "last_name": cell(st.sampled_from(["Wójcik", "Nowak-Żółć"])),
            "email": cell(st.sampled_from(["", "z@example.pl"])),
            "phone": cell(st.sampled_from(["", "601 234 567"])),
            "birth_date": cell(st.sampled_from(["", "14.02.1988"])),
            "city": cell(st.sampled_from(["", "Łódź"])),
            "joined_at": cell(st.sampled_from(["", "2025-06-01", past_moment()])),
        }
    )
    return st.lists(row, max_size=30)


@pytest.mark.django_db
def test_members_import_keeps_the_preview_promise(people, staff_user):
    existing = [member.member_number for member in people]

    @PROMISE
    @given(rows=member_rows(existing))
    def check(rows):
        before = Member.objects.count()
        done = run("members", csv_bytes(MEMBER_HEADER, rows), staff_user)
        assert_kept(done, added=Member.objects.count() - before)

    check()


# --- Purchases, with line items in the file or in a second file ----------------------------------

PURCHASE_HEADER = [
    "purchase_id",
    "member_number",
    "purchased_at",
    "amount",
    "store",
    "source",
    "sku",
    "product_name",
    "category",
    "quantity",
    "line_amount",
]
LINES_HEADER = ["purchase_id", "sku", "product_name", "category", "quantity", "line_amount"]
AMOUNTS = st.sampled_from(["100,00", "249,90", "1 234,56", "0,01", "0"])


def purchase_rows(numbers: list[str]) -> st.SearchStrategy:
    line = {
        "sku": cell(st.sampled_from(["", "K-100"])),
        "product_name": cell(st.sampled_from(["", "Krem nawilżający"])),
        "category": cell(st.sampled_from(["", "Kosmetyki"])),
        "quantity": cell(st.sampled_from(["", "1", "2,5"])),
        "line_amount": cell(st.sampled_from(["", "10,00"])),
    }
    row = st.fixed_dictionaries(
        {
            "purchase_id": keyed("P"),
            "member_number": cell(st.sampled_from(numbers)),
            "purchased_at": cell(st.sampled_from([past_moment(), past_moment(400)])),
            "amount": cell(AMOUNTS),
            "store": cell(st.sampled_from(["", "online", "store-01"])),
            "source": cell(st.sampled_from(["", "pos"])),
            **line,
        }
    )
    return st.lists(row, max_size=30)


@pytest.mark.django_db
def test_purchases_import_keeps_the_preview_promise(people, staff_user):
    numbers = [member.member_number for member in people]

    @PROMISE
    @given(rows=purchase_rows(numbers))
    def check(rows):
        before = Purchase.objects.count()
        done = run("purchases", csv_bytes(PURCHASE_HEADER, rows), staff_user, options={"source": "pos"})
        assert_kept(done, added=Purchase.objects.count() - before)

    check()


@pytest.mark.django_db
def test_purchases_with_a_lines_file_keep_the_preview_promise(people, staff_user):
    numbers = [member.member_number for member in people]
    purchase = st.fixed_dictionaries(
        {
            "purchase_id": keyed("PL"),
            "member_number": cell(st.sampled_from(numbers)),
            "purchased_at": cell(st.just(past_moment())),
            "amount": cell(st.sampled_from(["500,00", "99,99"])),
        }
    )
    line = st.fixed_dictionaries(
        {
            "sku": cell(st.sampled_from(["K-100", "D-7"])),
            "product_name": cell(st.sampled_from(["", "Krem"])),
            "category": cell(st.sampled_from(["", "Kosmetyki"])),
            "quantity": cell(st.sampled_from(["", "3"])),
            "line_amount": cell(st.sampled_from(["10,00", "0,50"])),
        }
    )

    @PROMISE
    @given(purchases=st.lists(purchase, max_size=15), lines=st.lists(st.tuples(st.integers(0, 15), line), max_size=15))
    def check(purchases, lines):
        ids = [p["purchase_id"] for p in purchases] or ["none"]
        lines_rows = [{**values, "purchase_id": ids[index % len(ids)]} for index, values in lines]
        before = (Purchase.objects.count(), PurchaseLine.objects.count())
        done = run(
            "purchases",
            csv_bytes(["purchase_id", "member_number", "purchased_at", "amount"], purchases),
            staff_user,
            options={"source": "pos"},
            lines=csv_bytes(LINES_HEADER, lines_rows),
        )
        assert_kept(done, added=Purchase.objects.count() - before[0])
        # Each imported line is one row of the lines file the preview counted as a line of a new purchase.
        assert PurchaseLine.objects.count() - before[1] <= done.counts.get("line", 0)

    check()


# --- Refunds ---------------------------------------------------------------------------------------

REFUND_HEADER = ["refund_id", "purchase_id", "source", "amount", "refunded_at", "reason"]


@pytest.mark.django_db
def test_refunds_import_keeps_the_preview_promise(people, staff_user):
    purchases = [
        purchase_post(member=member, source="pos", external_id=f"R-{member.pk}-{i}", amount=Decimal("5000.00"))
        for member in people
        for i in range(2)
    ]
    ids = [posted.purchase.external_id for posted in purchases]
    row = st.fixed_dictionaries(
        {
            "refund_id": keyed("Z"),
            "purchase_id": cell(st.sampled_from(ids)),
            "source": cell(st.sampled_from(["", "pos"])),
            "amount": cell(st.sampled_from(["0,01", "1,00", "12,50"])),
            "refunded_at": cell(st.sampled_from(["", past_moment(1)])),
            "reason": cell(st.sampled_from(["", "Zwrot towaru"])),
        }
    )

    @PROMISE
    @given(rows=st.lists(row, max_size=30))
    def check(rows):
        before = Refund.objects.count()
        done = run("refunds", csv_bytes(REFUND_HEADER, rows), staff_user, options={"source": "pos"})
        assert_kept(done, added=Refund.objects.count() - before)

    check()


# --- Adjustments -----------------------------------------------------------------------------------

ADJUSTMENT_HEADER = ["adjustment_id", "member_number", "points", "reason"]


@pytest.mark.django_db
def test_adjustments_import_keeps_the_preview_promise(people, staff_user):
    for member in people:
        points_adjust(member=member, points=100_000, reason="Start", actor=staff_user)
    numbers = [member.member_number for member in people]
    row = st.fixed_dictionaries(
        {
            "adjustment_id": keyed("KOR"),
            "member_number": cell(st.sampled_from(numbers)),
            "points": cell(st.sampled_from(["50", "-20", "+1 000", "1000000", "-1000000"])),
            "reason": cell(st.sampled_from(["Rekompensata za reklamację"])),
        }
    )

    @PROMISE
    @given(rows=st.lists(row, max_size=30))
    def check(rows):
        before = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ADJUST).count()
        done = run("adjustments", csv_bytes(ADJUSTMENT_HEADER, rows), staff_user)
        assert_kept(done, added=LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ADJUST).count() - before)

    check()


# --- Partners and rewards --------------------------------------------------------------------------

PARTNER_HEADER = ["code", "name", "legal_name", "nip", "email", "phone", "website", "description", "is_active"]
REWARD_HEADER = [
    "code",
    "name",
    "kind",
    "category",
    "points_cost",
    "cash_value",
    "partner",
    "min_tier",
    "stock",
    "per_member_limit",
    "available_from",
    "available_until",
    "is_active",
    "description",
    "terms",
]


@pytest.mark.django_db
def test_partners_import_keeps_the_preview_promise(staff_user):
    PartnerFactory(code="kino-helios", name="Kino Helios", email="k@helios.pl")
    row = st.fixed_dictionaries(
        {
            "code": st.one_of(keyed("p"), st.just("kino-helios")),
            "name": cell(st.sampled_from(["Kino Helios", "Księgarnia Żak"])),
            "legal_name": cell(st.sampled_from(["", "Helios S.A."])),
            "nip": cell(st.sampled_from(["", "123-456-32-18"])),
            "email": cell(st.sampled_from(["partnerzy@helios.pl"])),
            "phone": cell(st.sampled_from(["", "+48221234567"])),
            "website": cell(st.sampled_from(["", "www.helios.pl"])),
            "description": cell(st.sampled_from(["", "Sieć kin"])),
            "is_active": cell(st.sampled_from(["", "tak", "nie"])),
        }
    )

    @PROMISE
    @given(rows=st.lists(row, max_size=30))
    def check(rows):
        before = Partner.objects.count()
        done = run("partners", csv_bytes(PARTNER_HEADER, rows), staff_user)
        assert_kept(done, added=Partner.objects.count() - before)

    check()


@pytest.mark.django_db
def test_rewards_import_keeps_the_preview_promise(staff_user, tiers):
    PartnerFactory(code="kino-helios", name="Kino Helios", email="k@helios.pl")
    RewardFactory(code="kino-2", name="Dwa bilety", kind="voucher", points_cost=1500)
    row = st.fixed_dictionaries(
        {
            "code": st.one_of(keyed("r"), st.just("kino-2")),
            "name": cell(st.sampled_from(["Dwa bilety do kina"])),
            "kind": cell(st.sampled_from(["voucher", "Bon lub kod rabatowy", "product"])),
            "category": cell(st.sampled_from(["", "Kino i teatr"])),
            "points_cost": cell(st.sampled_from(["1500", "1 500", "7"])),
            "cash_value": cell(st.sampled_from(["", "58,00", "35.00"])),
            "partner": cell(st.sampled_from(["", "kino-helios"])),
            "min_tier": cell(st.sampled_from(["", "silver"])),
            "stock": cell(st.sampled_from(["", "0", "200"])),
            "per_member_limit": cell(st.sampled_from(["", "2"])),
            "available_from": cell(st.sampled_from(["", "01.03.2026"])),
            "available_until": cell(st.sampled_from(["", "31.12.2026", "31.12.2099 23:59"])),
            "is_active": cell(st.sampled_from(["", "tak"])),
            "description": cell(st.sampled_from(["", "Dwa bilety 2D."])),
            "terms": cell(st.sampled_from(["", "Ważne 3 miesiące."])),
        }
    )

    @PROMISE
    @given(rows=st.lists(row, max_size=30))
    def check(rows):
        before = Reward.objects.count()
        done = run("rewards", csv_bytes(REWARD_HEADER, rows), staff_user)
        assert_kept(done, added=Reward.objects.count() - before)

    check()
