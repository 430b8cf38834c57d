"""Importing purchases, refunds and adjustments: points posted once, errors by line and column."""

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.utils import timezone

from loyalty_site.files.importing import ImportRefused, import_apply, import_job_create, import_preview
from loyalty_site.files.models import ImportJob, ImportRowError
from members.models import Purchase, PurchaseLine
from rewards.models import LedgerEntry, PointsAccount
from rewards.selectors import ledger_mismatches
from rewards.services import purchase_post
from tests.factories import EarningRuleFactory, PurchaseFactory, StaffFactory

HEADER = "purchase_id;member_number;purchased_at;amount;store;sku;category;line_amount"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def members(make_member):
    return [make_member(card_number=f"CARD-{i}") for i in range(5)]


def job(kind, content: bytes, user, **kwargs):
    name = f"{kind}.csv"
    return import_job_create(
        kind=kind, file=SimpleUploadedFile(name, content), name=name, user=user, options={"source": "pos"}, **kwargs
    )


def purchases_csv(members, n, bad: dict[int, tuple[str, str]] | None = None) -> bytes:
    day = (timezone.localdate() - timedelta(days=60)).strftime("%d.%m.%Y")
    lines = [HEADER]
    columns = HEADER.split(";")
    for i in range(n):
        row = [
            f"PAR-{i:06d}",
            members[i % len(members)].member_number,
            f"{day} 12:00",
            f"{100 + i % 50},50",
            "store-01",
            "",
            "",
            "",
        ]
        if bad and (i + 2) in bad:
            column, value = bad[i + 2]
            row[columns.index(column)] = value
        lines.append(";".join(row))
    return ("\n".join(lines) + "\n").encode()


def test_purchases_file_with_bad_rows_reports_them_and_commits_nothing(members, program, staff_user):
    content = purchases_csv(
        members, 999, {17: ("amount", "12,3,4"), 512: ("member_number", "999"), 998: ("purchased_at", "32.01.2026")}
    )
    previewed = import_preview(job=job("purchases", content, staff_user))
    errors = list(ImportRowError.objects.filter(job=previewed).values_list("line", "column", "message"))
    assert errors == [
        (17, "amount", "'12,3,4' nie jest liczbą"),
        (512, "member_number", "nie znaleziono aktywnego członka: member_number '999'"),
        (998, "purchased_at", "'32.01.2026' nie jest istniejącą datą"),
    ]
    assert previewed.counts == {"new": 996, "invalid": 3}
    with pytest.raises(ImportRefused):
        import_apply(job=previewed)
    assert Purchase.objects.count() == 0 and LedgerEntry.objects.count() == 0


def test_same_purchases_file_twice_posts_no_points_the_second_time(members, program, staff_user):
    content = purchases_csv(members, 40)
    first = import_apply(job=import_preview(job=job("purchases", content, staff_user)))
    assert first.status == "done"
    entries = LedgerEntry.objects.count()
    assert entries == 40
    second = import_preview(job=job("purchases", content, staff_user))
    assert second.counts == {"skip": 40}
    import_apply(job=second)
    assert LedgerEntry.objects.count() == entries
    assert ledger_mismatches() == []


def test_a_purchase_posted_at_the_till_is_skipped_by_the_import(members, program, staff_user):
    PurchaseFactory(member=members[0], external_id="PAR-000000", amount=Decimal("100.50"))
    previewed = import_preview(job=job("purchases", purchases_csv(members, 3), staff_user))
    assert previewed.counts == {"skip": 1, "new": 2}


def test_a_purchase_id_recorded_for_another_member_is_an_error_not_a_skip(members, program, staff_user):
    # PAR-000001 belongs to members[1] in the file; the till recorded it for members[3].
    PurchaseFactory(member=members[3], external_id="PAR-000001", amount=Decimal("101.50"))
    previewed = import_preview(job=job("purchases", purchases_csv(members, 3), staff_user))
    errors = list(ImportRowError.objects.filter(job=previewed).values_list("line", "column", "message"))
    message = f"Zakup PAR-000001 ze źródła pos jest już zapisany dla członka {members[3].member_number}."
    assert errors == [(3, "purchase_id", message)]
    assert previewed.counts == {"new": 2, "invalid": 1}


def test_a_purchase_posted_at_the_till_after_the_preview_is_counted_as_skipped(members, program, staff_user):
    previewed = import_preview(job=job("purchases", purchases_csv(members, 3), staff_user))
    assert previewed.counts == {"new": 3}
    PurchaseFactory(member=members[1], external_id="PAR-000001", amount=Decimal("101.50"))

    done = import_apply(job=previewed)

    assert done.options["applied"] == {"new": 2, "skip": 1}
    assert LedgerEntry.objects.filter(idempotency_key="purchase:pos:PAR-000001").count() == 1


def wait_until_blocked_by_this_connection(timeout: float = 30) -> None:
    """Return once another connection waits for a lock this one holds. (pg_locks, not pg_stat_activity: that one
    is read once per transaction, and this connection is inside one.)"""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute("SELECT 1 FROM pg_locks WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))")
            if cursor.fetchone():
                return
            time.sleep(0.01)
    raise AssertionError("the import never waited for the job's row")


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_counts_add_to_what_another_worker_committed(members, program, staff_user):
    """A redelivered task: this run has read the job (nothing applied yet) when another worker commits the first
    chunk; this run must skip that chunk and add the second to the counts as committed, not to what it read."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    previewed = import_preview(job=job("purchases", purchases_csv(members, 10), staff_user), chunk_size=5)
    day = timezone.localtime(timezone.now() - timedelta(days=60)).replace(hour=12, minute=0, second=0, microsecond=0)

    def this_run() -> ImportJob:
        try:
            return import_apply(job=ImportJob.objects.get(pk=previewed.pk), chunk_size=5)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=1) as pool:
        with transaction.atomic():
            # The other worker holds the job while it applies the first chunk: this run reads the job, then waits.
            other = ImportJob.objects.select_for_update().get(pk=previewed.pk)
            running = pool.submit(this_run)
            wait_until_blocked_by_this_connection()
            for i in range(5):  # the file's first five rows, recorded and posted
                purchase_post(
                    member=members[i],
                    source="pos",
                    external_id=f"PAR-{i:06d}",
                    amount=Decimal(f"{100 + i}.50"),
                    purchased_at=day,
                    store="store-01",
                )
            other.status = ImportJob.Status.IMPORTING
            other.processed_rows = 5
            other.options = {**other.options, "applied": {"new": 5}}
            other.save(update_fields=["status", "processed_rows", "options"])
        done = running.result(timeout=120)

    assert done.status == ImportJob.Status.DONE
    assert done.options["applied"] == {"new": 10}
    assert Purchase.objects.count() == 10
    assert LedgerEntry.objects.filter(kind="earn").count() == 10  # the first chunk not posted a second time
    assert ledger_mismatches() == []


def test_line_items_earn_by_category(members, program, staff_user):
    EarningRuleFactory(name="Kosmetyki x2", kind="multiplier", multiplier=Decimal("2"), category="Kosmetyki")
    day = (timezone.localdate() - timedelta(days=60)).isoformat()
    number = members[0].member_number
    content = "\n".join(
        [
            HEADER,
            f"L-1;{number};{day} 10:00;150,00;online;K1;Kosmetyki;100,00",
            f"L-1;{number};{day} 10:00;150,00;online;D1;Dom;50,00",
            f"L-2;{number};{day} 11:00;10,00;online;;;",
        ]
    ).encode()
    imported = import_apply(job=import_preview(job=job("purchases", content, staff_user)))
    assert imported.counts == {"new": 2, "line": 1}
    assert PurchaseLine.objects.filter(purchase__external_id="L-1").count() == 2
    assert LedgerEntry.objects.get(purchase__external_id="L-1").points == 250


@pytest.mark.parametrize(
    "preview_chunk_size",
    [
        pytest.param(2000, id="chunked otherwise than the import: the file is read again"),
        pytest.param(5, id="chunked as the import: the kept outcomes are applied"),
    ],
)
def test_interrupted_purchases_import_applies_every_row_once(
    members, program, staff_user, monkeypatch, preview_chunk_size
):
    from rewards import resources

    upload = job("purchases", purchases_csv(members, 25), staff_user)
    previewed = import_preview(job=upload, chunk_size=preview_chunk_size)
    original = resources.PurchaseImport.apply
    calls = {"n": 0}

    def killed_on_third_chunk(self, outcomes, *, job):
        calls["n"] += 1
        if calls["n"] == 3:
            raise SystemExit("worker killed")
        return original(self, outcomes, job=job)

    monkeypatch.setattr(resources.PurchaseImport, "apply", killed_on_third_chunk)
    with pytest.raises(SystemExit):
        import_apply(job=previewed, chunk_size=5)
    assert Purchase.objects.count() == 10
    monkeypatch.setattr(resources.PurchaseImport, "apply", original)
    import_apply(job=previewed, chunk_size=5)
    assert Purchase.objects.count() == 25
    assert LedgerEntry.objects.filter(kind="earn").count() == 25
    assert ledger_mismatches() == []


def test_refunds_and_adjustments_import(members, program, staff_user):
    import_apply(job=import_preview(job=job("purchases", purchases_csv(members, 2), staff_user)))
    refunds = b"refund_id;purchase_id;amount\nZ-1;PAR-000000;50,00\nZ-2;PAR-000001;999\n"
    previewed = import_preview(job=job("refunds", refunds, staff_user, only_valid_rows=True))
    assert list(ImportRowError.objects.filter(job=previewed).values_list("line", "column", "message")) == [
        (3, "amount", "z tego zakupu do zwrotu zostało tylko 101,50 zł")
    ]
    import_apply(job=previewed)
    assert PointsAccount.objects.get(member=members[0]).balance == 50
    number = members[0].member_number
    adjustments = f"adjustment_id;member_number;points;reason\nA-1;{number};25;Reklamacja\nA-2;{number};-500;x\n"
    previewed = import_preview(job=job("adjustments", adjustments.encode(), staff_user, only_valid_rows=True))
    assert previewed.counts == {"new": 1, "invalid": 1}
    assert list(ImportRowError.objects.filter(job=previewed).values_list("line", "column", "message")) == [
        (3, "points", "członek ma 75 punktów; nie można odjąć 500")
    ]
    import_apply(job=previewed)
    import_apply(job=import_preview(job=job("adjustments", adjustments.encode(), staff_user, only_valid_rows=True)))
    entry = LedgerEntry.objects.get(kind="adjust")
    assert (entry.points, entry.actor) == (25, staff_user)
    assert ledger_mismatches() == []


# --- The import applies the preview's outcomes (PurchaseImport.reuses_preview) ----------------------


def test_import_applies_the_previews_outcomes_without_validating_the_file_again(
    members, program, staff_user, monkeypatch
):
    from rewards import resources

    previewed = import_preview(job=job("purchases", purchases_csv(members, 12), staff_user), chunk_size=5)
    kept = previewed.file.storage
    assert kept.exists(f"imports/prepared/{previewed.pk}.prepared")

    def no_second_validation(self, rows, *, job, seen):
        raise AssertionError("the file was validated again")

    monkeypatch.setattr(resources.PurchaseImport, "prepare", no_second_validation)
    imported = import_apply(job=previewed, chunk_size=5)
    assert imported.status == "done" and imported.options["applied"] == {"new": 12}
    assert LedgerEntry.objects.filter(kind="earn").count() == 12
    assert not kept.exists(f"imports/prepared/{previewed.pk}.prepared")  # removed once the import is done


def test_member_suspended_after_the_preview_stops_the_import_at_that_chunk(members, program, staff_user):
    previewed = import_preview(job=job("purchases", purchases_csv(members, 10), staff_user), chunk_size=5)
    members[1].status = "suspended"  # rows 2 and 7 (lines 3 and 8) are theirs
    members[1].save()
    failed = import_apply(job=previewed, chunk_size=5)
    assert failed.status == "failed"
    assert failed.error_message == (
        f"Wiersz 3, kolumna member_number: Członek {members[1].member_number} jest zawieszony "
        "(zmiana od czasu podglądu). Wiersze przed wierszem 2 zostały zaimportowane; pozostałe prześlij ponownie."
    )
    assert Purchase.objects.count() == 0  # the chunk rolled back whole
    assert ledger_mismatches() == []


def test_member_suspended_after_the_preview_with_only_valid_rows_skips_their_rows(members, program, staff_user):
    upload = job("purchases", purchases_csv(members, 10), staff_user, only_valid_rows=True)
    previewed = import_preview(job=upload, chunk_size=5)
    members[1].status = "suspended"
    members[1].save()
    imported = import_apply(job=previewed, chunk_size=5)
    assert imported.status == "done"
    assert imported.options["applied"] == {"new": 8, "invalid": 2}
    assert Purchase.objects.count() == 8 and not Purchase.objects.filter(member=members[1]).exists()


@pytest.fixture
def validated_again(monkeypatch):
    """The sizes of the chunks the purchases handler validates; a test clears it once the preview is done."""
    from rewards import resources

    sizes = []
    original = resources.PurchaseImport.prepare

    def prepare(self, rows, **kwargs):
        sizes.append(len(rows))
        return original(self, rows, **kwargs)

    monkeypatch.setattr(resources.PurchaseImport, "prepare", prepare)
    return sizes


def _kept(job):
    return job.file.storage, f"imports/prepared/{job.pk}.prepared"


def _rewrite(job, change):
    storage, name = _kept(job)
    with storage.open(name, "rb") as handle:
        data = bytearray(handle.read())
    with open(storage.path(name), "wb") as handle:
        handle.write(change(data))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda data: data[:-1] + bytes([data[-1] ^ 0xFF]), id="one bit of the outcomes"),
        pytest.param(lambda data: data[: len(data) // 2], id="cut off"),
        pytest.param(lambda data: data[:40], id="cut off after the first header"),
    ],
)
def test_altered_or_cut_kept_outcomes_are_never_loaded_and_the_upload_is_read_again(
    members, program, staff_user, validated_again, change
):
    previewed = import_preview(job=job("purchases", purchases_csv(members, 5), staff_user))
    _rewrite(previewed, change)
    validated_again.clear()
    imported = import_apply(job=previewed)
    assert imported.status == "done" and validated_again == [5]
    assert Purchase.objects.count() == 5
    assert ledger_mismatches() == []


def test_outcomes_kept_for_another_job_do_not_verify(members, program, staff_user, validated_again):
    first = import_preview(job=job("purchases", purchases_csv(members, 5), staff_user))
    second = import_preview(job=job("purchases", purchases_csv(members, 5), staff_user))
    storage, first_name = _kept(first)
    with storage.open(first_name, "rb") as handle:
        copied = handle.read()
    _rewrite(second, lambda data: copied)
    validated_again.clear()
    assert import_apply(job=second).status == "done" and validated_again == [5]


def test_a_failed_import_removes_its_kept_outcomes(members, program, staff_user):
    previewed = import_preview(job=job("purchases", purchases_csv(members, 10), staff_user), chunk_size=5)
    storage, name = _kept(previewed)
    assert storage.exists(name)
    members[1].status = "suspended"
    members[1].save()
    assert import_apply(job=previewed, chunk_size=5).status == "failed"
    assert not storage.exists(name)


@pytest.fixture
def support_user(db):
    return StaffFactory(username="support", role="Support")


def test_a_trillion_points_adjustment_is_a_row_error_in_the_preview(members, program, support_user):
    number = members[0].member_number
    content = f"adjustment_id;member_number;points;reason\nK-1;{number};1000000000000;Błąd\nK-2;{number};40;Ok\n"
    previewed = import_preview(job=job("adjustments", content.encode(), support_user, only_valid_rows=True))

    errors = list(ImportRowError.objects.filter(job=previewed).values_list("line", "column", "value"))
    assert errors == [(2, "points", "1000000000000")]
    assert previewed.counts == {"new": 1, "invalid": 1}
    done = import_apply(job=previewed)
    assert done.status == "done" and done.options["applied"] == {"new": 1, "invalid": 1}
    assert list(LedgerEntry.objects.filter(kind="adjust").values_list("points", flat=True)) == [40]


def test_an_adjustment_above_the_admin_forms_cap_is_refused_by_the_import_as_by_the_form(
    members, program, support_user
):
    from rewards.forms import PointsAdjustForm

    number = members[0].member_number
    content = f"adjustment_id;member_number;points;reason\nK-9;{number};+999 999 999;Prezent\n"
    previewed = import_preview(job=job("adjustments", content.encode(), support_user))

    error = ImportRowError.objects.get(job=previewed)
    assert (error.line, error.column, error.value) == (2, "points", "+999 999 999")
    form = PointsAdjustForm({"points": "999999999", "reason": "Prezent", "token": uuid.uuid4()})
    assert not form.is_valid()
    assert form.errors["points"] == [error.message]
    with pytest.raises(ImportRefused):
        import_apply(job=previewed)
    assert LedgerEntry.objects.filter(kind="adjust").count() == 0


def test_an_over_long_sku_is_refused_by_the_import_as_the_batch_refuses_it(members, program, staff_user):
    from members.services import LineData
    from rewards.batch import PurchaseRow, purchases_post_batch

    day = (timezone.localdate() - timedelta(days=5)).strftime("%d.%m.%Y")
    sku = "S" * 41
    content = f"{HEADER}\nLONG-1;{members[0].member_number};{day} 10:00;50,00;online;{sku};Dom;50,00\n".encode()
    previewed = import_preview(job=job("purchases", content, staff_user, only_valid_rows=True))

    error = ImportRowError.objects.get(job=previewed)
    assert (error.line, error.column) == (2, "sku")
    assert previewed.counts == {"invalid": 1}
    assert import_apply(job=previewed).status == "done"
    assert not PurchaseLine.objects.exists() and not Purchase.objects.exists()
    line = LineData(sku=sku, product_name="", category="Dom", quantity=Decimal("1"), amount=Decimal("50"))
    row = PurchaseRow(
        member_id=members[0].pk,
        source="pos",
        external_id="LONG-1",
        amount=Decimal("50"),
        purchased_at=timezone.now() - timedelta(days=5),
        store="online",
        lines=(line,),
    )
    assert len(purchases_post_batch([row]).refusals) == 1
    assert not Purchase.objects.exists()


def test_preview_refuses_points_that_would_not_fit_the_account_whichever_key_finds_the_member(
    members, program, staff_user
):
    """The points bound is checked against the account of a member found by number (read with the member) and
    by card (read apart), and adds up the member's earlier purchases in the file."""
    for member in members[:2]:  # an IntegerField: 150 points of room
        PointsAccount.objects.update_or_create(member=member, defaults={"balance": 2**31 - 1 - 150})
    day = (timezone.localdate() - timedelta(days=60)).strftime("%d.%m.%Y")
    rows = [
        "purchase_id;member_number;card_number;purchased_at;amount",
        f"P-1;{members[0].member_number};;{day} 12:00;500,00",  # by number, no room
        f"P-2;;CARD-1;{day} 12:00;500,00",  # by card, no room
        f"P-3;{members[2].member_number};;{day} 12:00;500,00",  # room enough
        f"P-4;;CARD-0;{day} 12:00;100,00",  # fits alone (101 points at most) ...
        f"P-5;;CARD-0;{day} 12:00;100,00",  # ... but not beside P-4
    ]
    previewed = import_preview(job=job("purchases", ("\n".join(rows) + "\n").encode(), staff_user))
    refused = list(ImportRowError.objects.filter(job=previewed).order_by("line").values_list("line", "column"))
    assert refused == [(2, "amount"), (3, "amount"), (6, "amount")]
    assert previewed.counts == {"new": 2, "invalid": 3}
