"""Purchases with their line items in a second file: joined before points are worked out, errors by file."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from loyalty_site.files.importing import ImportRefused, import_apply, import_job_create, import_preview, template_csv
from loyalty_site.files.models import ImportRowError
from members.models import Purchase, PurchaseLine
from rewards.models import LedgerEntry
from rewards.selectors import ledger_mismatches
from tests.factories import EarningRuleFactory

PURCHASES = "purchase_id;member_number;purchased_at;amount;store"
LINES = "purchase_id;sku;product_name;category;quantity;line_amount"


@pytest.fixture(autouse=True)
def _media_and_language(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    with translation.override("en"):  # the English source texts are asserted
        yield


@pytest.fixture
def rules(program):
    EarningRuleFactory(name="Kosmetyki x2", kind="multiplier", multiplier=Decimal("2"), category="Kosmetyki")
    EarningRuleFactory(name="Bez alkoholu", kind="exclude", category="Alkohol")


@pytest.fixture
def member(make_member):
    return make_member()


def day() -> str:
    return (timezone.localdate() - timedelta(days=30)).strftime("%d.%m.%Y")


def two_files(user, purchases: list[str], lines: list[str], **kwargs):
    return import_job_create(
        kind="purchases",
        file=SimpleUploadedFile("zakupy.csv", "\n".join([PURCHASES, *purchases]).encode()),
        name="zakupy.csv",
        user=user,
        options={"source": "pos"},
        lines_file=SimpleUploadedFile("pozycje.csv", "\n".join([LINES, *lines]).encode()),
        **kwargs,
    )


def one_file(user, rows: list[str]):
    header = f"{PURCHASES};sku;product_name;category;quantity;line_amount"
    return import_job_create(
        kind="purchases",
        file=SimpleUploadedFile("zakupy.csv", "\n".join([header, *rows]).encode()),
        name="zakupy.csv",
        user=user,
        options={"source": "pos"},
    )


def errors(job) -> list[tuple[int, str, str]]:
    return list(ImportRowError.objects.filter(job=job).order_by("line", "id").values_list("line", "column", "message"))


def ledger() -> list[tuple]:
    return sorted(LedgerEntry.objects.values_list("purchase__external_id", "kind", "points"))


def test_lines_from_a_second_file_earn_exactly_as_lines_in_the_purchases_file(member, rules, staff_user):
    n = member.member_number
    purchases = [f"P-1;{n};{day()} 10:00;300,00;online", f"P-2;{n};{day()} 11:00;40,00;online"]
    lines = [
        "P-1;K1;Krem;Kosmetyki;1;100,00",
        "P-2;D9;Kubek;Dom;2;40,00",
        "P-1;W1;Wino;Alkohol;1;120,00",  # the lines of a purchase need not be consecutive here
        "P-1;D1;Świeca;Dom;1;50,00",
    ]
    previewed = import_preview(job=two_files(staff_user, purchases, lines))
    assert previewed.status == "previewed" and errors(previewed) == []
    assert previewed.counts == {"new": 2, "line": 4} and previewed.total_rows == 2
    import_apply(job=previewed)
    by_file = ledger()
    assert PurchaseLine.objects.filter(purchase__external_id="P-1").count() == 3
    assert by_file == [("P-1", "earn", 250), ("P-2", "earn", 40)]  # 100 x2 + 50, the wine excluded

    # The same purchases with their lines in the purchases file (under other ids) earn the same points.
    single = one_file(
        staff_user,
        [
            f"Q-1;{n};{day()} 10:00;300,00;online;K1;Krem;Kosmetyki;1;100,00",
            f"Q-1;{n};{day()} 10:00;300,00;online;W1;Wino;Alkohol;1;120,00",
            f"Q-1;{n};{day()} 10:00;300,00;online;D1;Świeca;Dom;1;50,00",
            f"Q-2;{n};{day()} 11:00;40,00;online;D9;Kubek;Dom;2;40,00",
        ],
    )
    import_apply(job=import_preview(job=single))
    assert [(e.replace("Q", "P"), k, p) for e, k, p in ledger() if e.startswith("Q")] == by_file
    assert ledger_mismatches() == []


def test_an_error_in_the_lines_file_names_its_line_and_file_and_the_purchase_is_not_imported(member, rules, staff_user):
    n = member.member_number
    purchases = [f"P-1;{n};{day()} 10:00;300,00;online", f"P-2;{n};{day()} 11:00;40,00;online"]
    lines = ["P-1;K1;Krem;Kosmetyki;1;100,00", "P-1;K2;Tonik;Kosmetyki;1;12,3,4", "P-2;D9;Kubek;Dom;1;40,00"]
    previewed = import_preview(job=two_files(staff_user, purchases, lines))
    assert errors(previewed) == [
        (2, "purchase_id", "not imported: line 3 of the lines file has errors"),
        (2, "purchase_id (lines file)", "not imported: line 3 of the lines file has errors"),
        (3, "line_amount (lines file)", "'12,3,4' is not a number"),
    ]
    assert previewed.counts == {"invalid": 3, "new": 1, "line": 1}
    with pytest.raises(ImportRefused):
        import_apply(job=previewed)
    assert Purchase.objects.count() == 0 and LedgerEntry.objects.count() == 0


def test_lines_of_a_purchase_not_in_the_purchases_file_are_reported(member, program, staff_user):
    n = member.member_number
    purchases = [f"P-1;{n};{day()} 10:00;300,00;online"]
    lines = ["P-1;K1;Krem;Kosmetyki;1;100,00", "P-9;K1;Krem;Kosmetyki;1;100,00", ";K1;;;;1,00"]
    previewed = import_preview(job=two_files(staff_user, purchases, lines, only_valid_rows=True))
    assert errors(previewed) == [
        (3, "purchase_id (lines file)", "no purchase 'P-9' from source 'pos' in the purchases file"),
        (4, "purchase_id (lines file)", "is empty"),
    ]
    assert previewed.counts == {"new": 1, "line": 1, "invalid": 2}
    imported = import_apply(job=previewed)
    assert imported.options["applied"] == {"new": 1, "line": 1, "invalid": 2}
    assert PurchaseLine.objects.count() == 1


def test_lines_in_both_files_are_refused(member, program, staff_user):
    n = member.member_number
    purchases = f"{PURCHASES};sku;line_amount\nP-1;{n};{day()} 10:00;300,00;online;K1;100,00\n"
    job = import_job_create(
        kind="purchases",
        file=SimpleUploadedFile("zakupy.csv", purchases.encode()),
        name="zakupy.csv",
        user=staff_user,
        lines_file=SimpleUploadedFile("pozycje.csv", f"{LINES}\nP-1;K2;;;;50,00\n".encode()),
    )
    previewed = import_preview(job=job)
    assert previewed.counts == {"invalid": 2}
    assert [e[1] for e in errors(previewed)] == ["sku", "purchase_id (lines file)"]
    assert "lines given in both files" in errors(previewed)[0][2]


def test_lines_adding_up_to_more_than_the_amount_are_refused(member, program, staff_user):
    n = member.member_number
    purchases = [f"P-1;{n};{day()} 10:00;100,00;online"]
    previewed = import_preview(job=two_files(staff_user, purchases, ["P-1;A;;;;60,00", "P-1;B;;;;60,00"]))
    assert errors(previewed)[0][:2] == (2, "line_amount")
    assert previewed.counts["invalid"] == 3


def test_a_bad_lines_file_header_fails_the_job_naming_the_file(member, program, staff_user):
    job = import_job_create(
        kind="purchases",
        file=SimpleUploadedFile("zakupy.csv", f"{PURCHASES}\n".encode()),
        name="zakupy.csv",
        user=staff_user,
        lines_file=SimpleUploadedFile("pozycje.csv", b"purchase_id;sku;price\nP-1;K;1\n"),
    )
    failed = import_preview(job=job)
    assert failed.status == "failed"
    assert failed.error_message.startswith("The lines file pozycje.csv: Line 1: the required column line_amount")


def test_both_files_again_post_nothing_and_the_import_reuses_the_preview(member, rules, staff_user, monkeypatch):
    from rewards import resources

    n = member.member_number
    purchases = [f"P-{i};{n};{day()} 10:00;100,00;online" for i in range(7)]
    lines = [f"P-{i};K{i};;Kosmetyki;1;10,00" for i in range(7)] + [f"P-{i};D{i};;Dom;1;5,00" for i in range(7)]
    previewed = import_preview(job=two_files(staff_user, purchases, lines), chunk_size=3)
    original = resources.PurchaseImport.prepare

    def no_second_validation(self, rows, **kwargs):
        raise AssertionError("the files were validated again")

    monkeypatch.setattr(resources.PurchaseImport, "prepare", no_second_validation)
    imported = import_apply(job=previewed, chunk_size=3)
    assert imported.options["applied"] == {"new": 7, "line": 14}
    assert [p for _e, _k, p in ledger()] == [25] * 7
    monkeypatch.setattr(resources.PurchaseImport, "prepare", original)

    again = import_preview(job=two_files(staff_user, purchases, lines))
    assert again.counts == {"skip": 7 + 14}
    import_apply(job=again)
    assert LedgerEntry.objects.count() == 7 and PurchaseLine.objects.count() == 14
    assert ledger_mismatches() == []


def test_without_the_kept_preview_the_import_reads_both_files_again(member, rules, staff_user):
    n = member.member_number
    purchases = [f"P-{i};{n};{day()} 10:00;100,00;online" for i in range(5)]
    lines = [f"P-{i};K{i};;Kosmetyki;1;10,00" for i in range(5)] + ["P-8;X;;;;1,00"]
    previewed = import_preview(job=two_files(staff_user, purchases, lines, only_valid_rows=True), chunk_size=2)
    storage = previewed.file.storage
    storage.delete(f"imports/prepared/{previewed.pk}.prepared")
    imported = import_apply(job=previewed, chunk_size=2)
    assert imported.options["applied"] == {"new": 5, "line": 5, "invalid": 1}
    assert [p for _e, _k, p in ledger()] == [20] * 5  # 10 PLN of cosmetics x2


def test_the_lines_template_has_the_lines_columns():
    header = template_csv("purchases", lines=True).splitlines()[0].split(";")
    assert header == ["purchase_id", "source", "sku", "product_name", "category", "quantity", "line_amount"]


def test_a_lines_file_row_with_more_cells_than_its_header_is_reported_in_that_file(member, program, staff_user):
    n = member.member_number
    purchases = [f"P-1;{n};{day()} 10:00;100,00;online"]
    previewed = import_preview(job=two_files(staff_user, purchases, ["P-1;A;;;;60,00;x"]))
    assert errors(previewed)[-1] == (
        2,
        "lines file",
        "the row has more cells than the header (7 cells, the header has 6)",
    )
    assert previewed.counts == {"invalid": 2}


def test_a_nul_in_the_lines_file_is_an_error_of_that_line_and_spoils_its_purchase(member, rules, staff_user):
    n = member.member_number
    purchases = [f"P-1;{n};{day()} 10:00;300,00;online", f"P-2;{n};{day()} 11:00;40,00;online"]
    # Past the first 64 KB, which the encoding check reads (a NUL there refuses the whole file as binary).
    blank = [""] * 70_000
    lines = [*blank, "P-1;K1;Kr\x00em;Kosmetyki;1;100,00", "P-2;D9;Kubek;Dom;2;40,00"]
    previewed = import_preview(job=two_files(staff_user, purchases, lines, only_valid_rows=True))
    assert previewed.status == "previewed", previewed.error_message
    assert (70_002, "product_name (lines file)") in [(line, column) for line, column, _ in errors(previewed)]
    import_apply(job=previewed)
    assert list(Purchase.objects.values_list("external_id", flat=True)) == ["P-2"]  # never P-1 without its name
