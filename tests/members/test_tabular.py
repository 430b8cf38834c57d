"""Reading uploaded files: encodings, delimiters, XLSX, Polish dates and decimals."""

import io
from datetime import date, datetime
from decimal import Decimal

import pytest
from django.utils import translation
from openpyxl import Workbook

from loyalty_site.files.tabular import (
    FileFormatError,
    parse_bool,
    parse_date,
    parse_datetime,
    parse_decimal,
    read_table,
)

ROWS = [["member_number", "city", "note"], ["1000000001", "Łódź", "Żółć, Gęślą"], ["1000000002", "Kraków", "ąśź ĄŚŹ"]]


def csv_bytes(encoding: str, delimiter: str) -> bytes:
    lines = []
    for row in ROWS:
        lines.append(delimiter.join(f'"{cell}"' if delimiter in cell else cell for cell in row))
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1250", "iso-8859-2"])
@pytest.mark.parametrize("delimiter", [",", ";"])
def test_polish_text_arrives_identical_from_every_encoding(encoding, delimiter):
    table = read_table(io.BytesIO(csv_bytes(encoding, delimiter)), "members.csv")
    assert table.headers == ROWS[0]
    assert list(table.rows) == ROWS[1:]
    assert table.delimiter == delimiter


def test_xlsx_is_read_with_polish_text():
    workbook = Workbook()
    for row in ROWS:
        workbook.active.append(row)
    workbook.active.append([1000000003, datetime(2026, 3, 1, 0, 0), 12.5])
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    table = read_table(buffer, "members.XLSX")
    rows = list(table.rows)
    assert rows[:2] == ROWS[1:]
    assert rows[2] == ["1000000003", "2026-03-01", "12.5"]


@pytest.mark.parametrize(
    "content",
    ["id,name\r\n1,x".encode("utf-16"), b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"", b"   \n"],
)
def test_undecodable_or_empty_file_gives_one_clear_error(content):
    with pytest.raises(FileFormatError) as info:
        table = read_table(io.BytesIO(content), "x.csv")
        list(table.rows)
    assert "Traceback" not in str(info.value)


def test_not_a_workbook_and_wrong_extension():
    with pytest.raises(FileFormatError) as info:
        read_table(io.BytesIO(b"not a zip"), "x.xlsx")
    assert str(info.value) == "Plik nie jest poprawnym skoroszytem XLSX."
    with pytest.raises(FileFormatError) as info:
        read_table(io.BytesIO(b"a,b"), "x.pdf")
    assert str(info.value) == "„x.pdf” nie jest plikiem .csv ani .xlsx."


def test_dates_decimals_and_booleans_in_polish_and_iso_forms():
    assert parse_date("2026-03-01") == parse_date("01.03.2026") == date(2026, 3, 1)
    assert parse_datetime("01.03.2026 14:30") == datetime(2026, 3, 1, 14, 30)
    assert parse_datetime("2026-03-01T14:30:05") == datetime(2026, 3, 1, 14, 30, 5)
    for text in ("1234.56", "1234,56", "1 234,56", "1.234,56", "1,234.56", "1234,56 zł"):
        assert parse_decimal(text) == Decimal("1234.56")
    assert parse_bool("TAK") and not parse_bool("nie")
    with pytest.raises(ValueError) as info:
        parse_date("31.02.2026")
    assert str(info.value) == "'31.02.2026' nie jest istniejącą datą"
    with pytest.raises(ValueError) as info:
        parse_decimal("1,999")
    assert str(info.value) == "'1,999' ma więcej niż 2 miejsca po przecinku"
    with pytest.raises(ValueError) as info:
        parse_decimal("abc")
    assert str(info.value) == "'abc' nie jest liczbą"


@pytest.mark.parametrize(
    ("text", "places", "message"),
    [
        ("1,99", 1, "'1,99' ma więcej niż 1 miejsce po przecinku"),
        ("1,99999", 4, "'1,99999' ma więcej niż 4 miejsca po przecinku"),
        ("1,9999999", 5, "'1,9999999' ma więcej niż 5 miejsc po przecinku"),
    ],
)
def test_messages_take_the_polish_plural_form_the_number_asks_for(text, places, message):
    with pytest.raises(ValueError) as info:
        parse_decimal(text, places=places)
    assert str(info.value) == message


def test_messages_are_translated_not_written_in_polish():
    with translation.override("en"):
        with pytest.raises(ValueError) as info:
            parse_decimal("abc")
        assert str(info.value) == "'abc' is not a number"
        with pytest.raises(ValueError) as info:
            parse_decimal("1,99", places=1)
        assert str(info.value) == "'1,99' has more than 1 decimal place"


def test_a_number_of_more_digits_than_decimals_carry_is_too_large():
    from django.utils import translation

    from loyalty_site.files.tabular import parse_decimal

    with translation.override("en"), pytest.raises(ValueError, match="too large"):
        parse_decimal("99999999999999999999999999", places=3)
