"""Hostile uploads: every file is refused with a short message or read correctly, in bounded memory.

Each file is generated here (nothing binary is committed). Reads that could run away run in a forked child,
which measures its own peak memory (VmHWM after resetting it) and is killed after a generous timeout, so a
regression fails instead of hanging the suite.
"""

import io
import multiprocessing
import struct
import traceback
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation
from openpyxl import Workbook
from openpyxl.styles import PatternFill

from loyalty_site.files.importing import import_job_create, import_preview
from loyalty_site.files.tabular import FileFormatError, read_table

MEMORY_LIMIT = 100 * 1024 * 1024
CHILD_TIMEOUT = 120
MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
MEMBERS_HEADER = ["member_number", "first_name", "last_name", "email"]


@pytest.fixture(autouse=True)
def _english_and_media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    with translation.override("en"):
        yield


# --- Running a read in a child that measures itself -------------------------------------------------


def _status(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(field)


def _child(connection, path, name, consume):
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")  # the peak (VmHWM) starts again from the current RSS
        before = _status("VmRSS")
        outcome = None
        try:
            with open(path, "rb") as stream, translation.override("en"):
                table = read_table(stream, name)
                outcome = ("read", table.headers[:5], consume(table))
        except FileFormatError as exc:
            outcome = ("refused", str(exc), None)
        connection.send((outcome, _status("VmHWM") - before))
    except BaseException:  # the parent reports whatever went wrong
        connection.send((("crashed", traceback.format_exc(), None), 0))
    finally:
        connection.close()


def last_row(table):
    """Reads every row, keeps the count and the last one."""
    count, last = 0, None
    for line, cells in table.numbered_rows:
        count, last = count + 1, (line, cells)
    return count, last


def read_in_child(path, name, consume=last_row):
    """(outcome, memory growth in bytes) of reading the file in a forked child."""
    context = multiprocessing.get_context("fork")
    parent, child = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(child, str(path), name, consume))
    process.start()
    child.close()
    if not parent.poll(CHILD_TIMEOUT):
        process.kill()
        process.join()
        pytest.fail(f"reading {name} did not finish within {CHILD_TIMEOUT} s")
    outcome, growth = parent.recv()
    process.join()
    assert outcome[0] != "crashed", outcome[1]
    return outcome, growth


# --- Building XLSX files by hand --------------------------------------------------------------------


def write_xlsx(path, sheet_parts, *, shared_strings=None, dimension="A1", compresslevel=9, extra=None):
    """A minimal workbook; sheet_parts and shared_strings are iterables of str written streaming."""
    rels_ns = "http://schemas.openxmlformats.org/package/2006/relationships"
    office = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="xml" ContentType="application/xml"/></Types>',
        )
        archive.writestr(
            "_rels/.rels",
            f'<Relationships xmlns="{rels_ns}"><Relationship Id="rId1" '
            f'Type="{office}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        )
        archive.writestr(
            "xl/workbook.xml",
            f'<workbook xmlns="{MAIN_NS}" xmlns:r="{office}"><sheets>'
            '<sheet name="Arkusz1" sheetId="1" r:id="rId1"/></sheets></workbook>',
        )
        strings_rel = f'<Relationship Id="rId2" Type="{office}/sharedStrings" Target="sharedStrings.xml"/>'
        archive.writestr(
            "xl/_rels/workbook.xml.rels",
            f'<Relationships xmlns="{rels_ns}"><Relationship Id="rId1" Type="{office}/worksheet" '
            f'Target="worksheets/sheet1.xml"/>{strings_rel if shared_strings is not None else ""}</Relationships>',
        )
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(f'<worksheet xmlns="{MAIN_NS}"><dimension ref="{dimension}"/><sheetData>'.encode())
            for part in sheet_parts:
                sheet.write(part.encode())
            sheet.write(b"</sheetData></worksheet>")
        if shared_strings is not None:
            with archive.open("xl/sharedStrings.xml", "w") as strings:
                strings.write(f'<sst xmlns="{MAIN_NS}">'.encode())
                for part in shared_strings:
                    strings.write(part.encode())
                strings.write(b"</sst>")
        for name, content in (extra or {}).items():
            archive.writestr(name, content)
    return path


def inline_row(number, values, start_column="A"):
    cells = "".join(
        f'<c r="{chr(ord(start_column) + i)}{number}" t="inlineStr"><is><t>{value}</t></is></c>'
        for i, value in enumerate(values)
    )
    return f'<row r="{number}">{cells}</row>'


HEADER_ROW = inline_row(1, MEMBERS_HEADER)


# --- XLSX ---------------------------------------------------------------------------------------------


def test_dimension_bomb_reads_only_the_cells_the_sheet_holds(tmp_path):
    path = write_xlsx(
        tmp_path / "bomb.xlsx",
        [HEADER_ROW, '<row r="1048576"><c r="A1048576" t="inlineStr"><is><t>2000000001</t></is></c></row>'],
        dimension="A1:XFD1048576",
    )
    assert path.stat().st_size < 5000

    (kind, headers, result), growth = read_in_child(path, "bomb.xlsx")

    assert (kind, headers) == ("read", MEMBERS_HEADER[:5])
    assert result == (1, (1048576, ["2000000001"]))
    assert growth < MEMORY_LIMIT


def test_a_value_far_right_of_the_column_limit_refuses_the_file(tmp_path):
    path = write_xlsx(
        tmp_path / "wide.xlsx",
        [HEADER_ROW, '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'],
        dimension="A1:XFD1048576",
    )

    (kind, message, _), growth = read_in_child(path, "wide.xlsx")

    assert kind == "refused"
    assert message == "Line 1048576 has a value in column 16384; a file may have at most 100 columns."
    assert growth < MEMORY_LIMIT


def test_dimension_bomb_through_the_import_engine_fails_the_job_with_the_message(staff_user, tmp_path):
    path = write_xlsx(
        tmp_path / "bomb.xlsx",
        [HEADER_ROW, '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'],
        dimension="A1:XFD1048576",
    )
    job = import_job_create(
        kind="members",
        file=SimpleUploadedFile("bomb.xlsx", path.read_bytes()),
        name="bomb.xlsx",
        user=staff_user,
        options={"consent_version": "1.0"},
    )

    job = import_preview(job=job)

    assert job.status == "failed"
    assert "column 16384" in job.error_message and "at most 100 columns" in job.error_message


def test_shared_strings_bomb_is_refused_before_unpacking(tmp_path):
    chunk = "<si><t>aaaaaaaaaa</t></si>" * 4000
    path = write_xlsx(
        tmp_path / "strings.xlsx",
        [HEADER_ROW],
        shared_strings=(chunk for _ in range(int(80 * 1024 * 1024 / len(chunk)))),
    )

    (kind, message, _), growth = read_in_child(path, "strings.xlsx")

    assert kind == "refused"
    assert message == (
        "The workbook unpacks to 80 MB in xl/sharedStrings.xml, more than the 64 MB allowed. "
        "Save the sheet as CSV and upload that."
    )
    assert growth < MEMORY_LIMIT


def test_a_small_part_that_unpacks_too_many_times_its_size_is_refused(tmp_path):
    chunk = "<si><t>aaaaaaaaaa</t></si>" * 4000
    path = write_xlsx(tmp_path / "ratio.xlsx", [HEADER_ROW], shared_strings=(chunk for _ in range(200)))
    assert path.stat().st_size < 100_000

    (kind, message, _), growth = read_in_child(path, "ratio.xlsx")

    assert kind == "refused"
    assert message.startswith("The workbook's part xl/sharedStrings.xml unpacks to ")
    assert message.endswith(
        " times its packed size, more than the 200 times a spreadsheet does. Save the sheet as CSV and upload that."
    )
    assert growth < MEMORY_LIMIT


def test_row_bomb_over_the_sheet_size_limit_is_refused(tmp_path, settings):
    settings.IMPORT_XLSX_MAX_SHEET_BYTES = 16 * 1024 * 1024
    row = '<row><c t="inlineStr"><is><t>1</t></is></c></row>'
    path = write_xlsx(tmp_path / "rows.xlsx", [HEADER_ROW, *(row * 1000 for _ in range(400))])

    (kind, message, _), growth = read_in_child(path, "rows.xlsx")

    assert kind == "refused"
    assert message.startswith("The workbook unpacks to 19 MB in xl/worksheets/sheet1.xml, more than the 16 MB")
    assert growth < MEMORY_LIMIT


def test_more_rows_than_allowed_are_refused_naming_the_line(tmp_path, settings):
    settings.IMPORT_MAX_ROWS = 1000
    rows = [inline_row(n, [str(n)]) for n in range(2, 5002)]
    path = write_xlsx(tmp_path / "rows.xlsx", [HEADER_ROW, *rows])

    (kind, message, _), growth = read_in_child(path, "rows.xlsx")

    assert kind == "refused"
    assert message == "Line 1002: the file has more than 1000 data rows, the most one import takes. Split it."
    assert growth < MEMORY_LIMIT


def test_a_million_columns_in_an_xlsx_header_are_refused_at_the_limit(tmp_path, settings):
    settings.IMPORT_XLSX_MAX_RATIO = 1000  # the ratio check would refuse this one first; the column limit is tested
    cells = '<c t="inlineStr"><is><t>unknown</t></is></c>' * 1000
    path = write_xlsx(tmp_path / "columns.xlsx", ['<row r="1">', *(cells for _ in range(1000)), "</row>"])

    (kind, message, _), growth = read_in_child(path, "columns.xlsx")

    assert kind == "refused"
    assert message == "Line 1 has a value in column 101; a file may have at most 100 columns."
    assert growth < MEMORY_LIMIT


def test_a_cell_longer_than_allowed_in_an_xlsx_is_refused(tmp_path):
    path = write_xlsx(
        tmp_path / "cell.xlsx",
        [HEADER_ROW, '<row r="2"><c r="B2" t="s"><v>0</v></c></row>'],
        shared_strings=["<si><t>" + "ż" * 5000 + "</t></si>"],
    )

    (kind, message, _), _growth = read_in_child(path, "cell.xlsx")

    assert (kind, message) == (
        "refused",
        "Line 2, column 2: the cell has 5000 characters, more than the 4000 allowed.",
    )


def test_a_zip_that_lies_about_a_part_size_is_refused(tmp_path):
    rows = [inline_row(n, [str(n), "Zofia"]) for n in range(2, 20002)]
    path = write_xlsx(tmp_path / "liar.xlsx", [HEADER_ROW, *rows])
    content = bytearray(path.read_bytes())
    # The sheet's central directory entry says it unpacks to 100,000 bytes; it really holds about 1.5 MB.
    entry = content.index(b"PK\x01\x02")
    while content[entry + 46 : entry + 46 + 24] != b"xl/worksheets/sheet1.xml":
        entry = content.index(b"PK\x01\x02", entry + 4)
    assert struct.unpack_from("<I", content, entry + 24)[0] > 1_000_000
    struct.pack_into("<I", content, entry + 24, 100_000)
    path.write_bytes(bytes(content))

    (kind, message, _), growth = read_in_child(path, "liar.xlsx")

    assert kind == "refused"
    assert message.startswith("The workbook is damaged after row ")
    assert message.endswith(" and cannot be read to its end.")
    assert growth < MEMORY_LIMIT


def test_a_normal_workbook_with_a_gap_row_and_a_styled_empty_column_reads_with_its_line_numbers():
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["member_number", "first_name"])
    sheet.append(["2000000001", "Zofia"])
    sheet.append([])
    sheet.append([2000000003, "Łucja"])
    for row in range(1, 6):
        sheet.cell(row=row, column=26).fill = PatternFill("solid", fgColor="FFFF00")  # styled, empty
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)

    table = read_table(buffer, "members.xlsx")

    assert table.headers == ["member_number", "first_name"]
    assert table.first_line == 2
    assert list(table.numbered_rows) == [(2, ["2000000001", "Zofia"]), (4, ["2000000003", "Łucja"])]
    buffer.seek(0)
    assert list(read_table(buffer, "members.xlsx").rows) == [["2000000001", "Zofia"], [], ["2000000003", "Łucja"]]


# --- CSV ----------------------------------------------------------------------------------------------


def test_a_million_unknown_columns_in_a_csv_are_refused_with_a_short_message(tmp_path):
    path = tmp_path / "columns.csv"
    path.write_bytes(b";".join(b"c%d" % i for i in range(1_000_000)) + b"\n1;2\n")

    (kind, message, _), growth = read_in_child(path, "columns.csv")

    assert kind == "refused"
    assert message == "Line 1 is longer than 1048576 bytes; it cannot be a row of an import."
    assert growth < MEMORY_LIMIT


def test_more_columns_than_allowed_in_a_csv_are_refused_naming_the_line():
    content = ";".join(MEMBERS_HEADER) + "\n" + ";".join(["1"] * 101) + "\n"

    table = read_table(io.BytesIO(content.encode()), "members.csv")
    with pytest.raises(FileFormatError) as info:
        list(table.rows)

    assert str(info.value) == "Line 2 has a value in column 101; a file may have at most 100 columns."


def test_a_mixed_encoding_csv_names_the_exact_line():
    lines = [";".join(MEMBERS_HEADER)]
    lines += [f"{2000000000 + n};Zofia;Wójcik;zofia{n}@example.pl" for n in range(2, 5001)]
    content = "\n".join(lines).encode("utf-8") + b"\n"
    broken = content.split(b"\n")
    broken[4001] = "2000004002;Łucja;Żółć;lucja@example.pl".encode("cp1250")  # line 4002
    content = b"\n".join(broken)

    for attribute in ("rows", "numbered_rows"):
        with pytest.raises(FileFormatError) as info:  # read ahead by blocks: the header read may already say so
            list(getattr(read_table(io.BytesIO(content), "members.csv"), attribute))
        assert str(info.value).startswith("Line 4002: the characters cannot be read as utf-8")


def test_csv_rows_carry_the_line_where_each_record_starts():
    content = b'a;b\n1;"two\nlines"\n\n3;x\r\n4;y'

    table = read_table(io.BytesIO(content), "x.csv")

    assert list(table.numbered_rows) == [(2, ["1", "two\nlines"]), (4, []), (5, ["3", "x"]), (6, ["4", "y"])]


def test_a_huge_line_is_refused_without_reading_it_whole(tmp_path):
    path = tmp_path / "line.csv"
    with path.open("wb") as handle:
        handle.write(b"member_number;first_name\n1;")
        for _ in range(200):
            handle.write(b"x" * 1024 * 1024)

    (kind, message, _), growth = read_in_child(path, "line.csv")

    assert (kind, message) == ("refused", "Line 2 is longer than 1048576 bytes; it cannot be a row of an import.")
    assert growth < MEMORY_LIMIT


def test_a_huge_cell_is_refused_naming_line_and_column():
    content = "member_number;first_name\n1;ok\n2;" + "ż" * 4001 + "\n"

    table = read_table(io.BytesIO(content.encode()), "members.csv")
    with pytest.raises(FileFormatError) as info:
        list(table.rows)

    assert str(info.value) == "Line 3, column 2: the cell has 4001 characters, more than the 4000 allowed."


def test_a_long_cell_across_lines_is_refused_too(settings):
    settings.IMPORT_MAX_CELL_CHARS = 50
    content = 'a;b\n1;"' + "\n".join(["x" * 30] * 3) + '"\n'

    table = read_table(io.BytesIO(content.encode()), "x.csv")
    with pytest.raises(FileFormatError) as info:
        list(table.numbered_rows)

    assert str(info.value) == "Line 2, column 2: the cell has 92 characters, more than the 50 allowed."


def test_nul_characters_after_the_sniffed_start_pass_through_as_text():
    content = b"a;b\n" + b"1;x\n" * 20000 + b"2;\x00\n"

    rows = list(read_table(io.BytesIO(content), "x.csv").numbered_rows)

    assert rows[-1] == (20002, ["2", "\x00"])
