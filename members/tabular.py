"""Reading staff's uploaded spreadsheets: CSV in the encodings Polish offices produce, and XLSX.

Encodings are decided by rules rather than statistical guessing: a Polish file is UTF-8 (with or without
BOM), Windows-1250 or ISO-8859-2, and those two differ in exactly the bytes that carry ą, ś, ź, so counting
which reading yields Polish letters decides reliably even on short files.

Uploads are hostile until read: every limit below is checked before the work it bounds, and a file over one
is refused whole (FileFormatError) with a message naming the line or part and the limit. Each limit is a
setting of the same name (read when a file is opened, so a test can lower it):

* IMPORT_MAX_ROWS, IMPORT_MAX_COLUMNS (a non-empty cell further right is refused), IMPORT_MAX_CELL_CHARS;
* CSV: IMPORT_MAX_LINE_BYTES, one physical line, refused without reading it whole. Lines are cut and decoded
  here, block by block, so a character that is not in the file's encoding names its exact line;
* XLSX, checked on the zip's directory before anything is unpacked: IMPORT_XLSX_MAX_SHEET_BYTES and
  IMPORT_XLSX_MAX_SHARED_STRINGS_BYTES (what those parts unpack to), IMPORT_XLSX_MAX_PART_BYTES (any other
  part), IMPORT_XLSX_MAX_TOTAL_BYTES, IMPORT_XLSX_MAX_RATIO (unpacked / packed size, for parts over
  IMPORT_XLSX_RATIO_FROM_BYTES) and IMPORT_XLSX_MAX_PARTS. zipfile never returns more of a part than its
  declared size (a part that lies ends in a CRC error), so these sizes hold.

XLSX is read with our own streaming pass over the sheet XML (defusedxml's iterparse, which refuses entity
tricks), not openpyxl's worksheet: openpyxl trusts the sheet's declared dimension and pads every row to it,
so one cell at XFD1048576 costs 17 billion empty cells. Here only the cells present in the XML are looked
at, every finished element is dropped at once, and a row's line number is its own `r` attribute.
"""

import csv
import io
import itertools
import posixpath
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from xml.etree.ElementTree import ParseError

from django.conf import settings
from django.utils.translation import gettext, ngettext

POLISH_LETTERS = set("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ")
SNIFF_BYTES = 64 * 1024
MB = 1024 * 1024

# Defaults of the limits (each overridable by the Django setting of the same name).
IMPORT_MAX_ROWS = 1_048_576  # Excel's own maximum
IMPORT_MAX_COLUMNS = 100
IMPORT_MAX_CELL_CHARS = 4_000
IMPORT_MAX_LINE_BYTES = 1 * MB
# A purchases sheet of a million rows written by Excel unpacks to about 300 MB of XML.
IMPORT_XLSX_MAX_SHEET_BYTES = 512 * MB
IMPORT_XLSX_MAX_SHARED_STRINGS_BYTES = 64 * MB
IMPORT_XLSX_MAX_PART_BYTES = 16 * MB
IMPORT_XLSX_MAX_TOTAL_BYTES = 1024 * MB
# Spreadsheet XML packs 5-30 times; bombs pack hundreds of times (deflate reaches about 1,000).
IMPORT_XLSX_MAX_RATIO = 200
IMPORT_XLSX_RATIO_FROM_BYTES = 1 * MB
IMPORT_XLSX_MAX_PARTS = 1_000
# Elements inside one cell or shared string (rich-text runs): a real one has a handful.
XLSX_MAX_CELL_ELEMENTS = 1_000

_CSV_BLOCK_BYTES = 256 * 1024


def _limit(name: str) -> int:
    return getattr(settings, name, globals()[name])


class FileFormatError(ValueError):
    """The whole file cannot be read; the message is meant for staff."""


@dataclass
class Table:
    """A file's header and its data rows, read lazily.

    `numbered_rows` yields `(line, cells)`: the 1-based physical line where the row starts (CSV) or the row
    number (XLSX). `rows` yields the cells alone, with an empty row for every line that starts no row (the
    rest of a multi-line CSV record, a gap between XLSX rows), so `first_line + offset` is still each row's
    line. Consume one of the two, once.
    """

    headers: list[str]
    numbered_rows: Iterator[tuple[int, list[str]]]
    encoding: str = ""
    delimiter: str = ""
    first_line: int = 2  # the line number (1-based) of the line after the header
    notes: list[str] = field(default_factory=list)

    @property
    def rows(self) -> Iterator[list[str]]:
        expected = self.first_line
        for line, cells in self.numbered_rows:
            while expected < line:
                yield []
                expected += 1
            yield cells
            expected = line + 1


def detect_encoding(sample: bytes) -> str:
    """utf-8-sig, utf-8, cp1250 or iso-8859-2. Raises FileFormatError for binary or UTF-16 files."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in sample:
        raise FileFormatError(
            gettext(
                "The file is not a text CSV in a supported encoding (UTF-8, Windows-1250 or ISO-8859-2). "
                "Save it from the spreadsheet as 'CSV UTF-8' and upload again."
            )
        )
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        # A cut in the middle of a multi-byte character at the end of the sample is still UTF-8.
        if exc.start >= len(sample) - 3 and exc.reason == "unexpected end of data":
            return "utf-8"
    scores = {}
    for encoding in ("cp1250", "iso-8859-2"):
        text = sample.decode(encoding, errors="replace")
        polish = sum(1 for ch in text if ch in POLISH_LETTERS)
        controls = sum(1 for ch in text if 0x80 <= ord(ch) <= 0x9F or ch == "\ufffd")
        scores[encoding] = polish - 10 * controls
    best = max(scores, key=scores.get)
    if scores[best] < 0:
        raise FileFormatError(
            gettext(
                "The file's characters could not be read as UTF-8, Windows-1250 or ISO-8859-2. "
                "Save it from the spreadsheet as 'CSV UTF-8' and upload again."
            )
        )
    return best


def detect_delimiter(header_line: str) -> str:
    counts = {delimiter: header_line.count(delimiter) for delimiter in (";", ",", "\t")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _too_many_rows(line: int, limit: int) -> FileFormatError:
    return FileFormatError(
        gettext("Line %(line)d: the file has more than %(limit)d data rows, the most one import takes. Split it.")
        % {"line": line, "limit": limit}
    )


def _check_cells(cells: list[str], line: int, max_columns: int, max_chars: int) -> None:
    """A non-empty cell right of the column limit, or a cell over the length limit, refuses the file."""
    if len(cells) > max_columns:
        for column, cell in enumerate(cells[max_columns:], start=max_columns + 1):
            if cell.strip():
                raise FileFormatError(
                    gettext(
                        "Line %(line)d has a value in column %(column)d; a file may have at most %(limit)d columns."
                    )
                    % {"line": line, "column": column, "limit": max_columns}
                )
    if cells and max(map(len, cells)) > max_chars:
        column = next(i for i, cell in enumerate(cells, start=1) if len(cell) > max_chars)
        raise FileFormatError(
            gettext(
                "Line %(line)d, column %(column)d: the cell has %(length)d characters, more than the %(limit)d allowed."
            )
            % {"line": line, "column": column, "length": len(cells[column - 1]), "limit": max_chars}
        )


def _line_ends(data: bytes) -> int:
    """Line breaks as Python's universal newlines count them: \\r\\n, \\r or \\n."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


def _may_have_long_line(block: bytes, newline: bytes, limit: int) -> bool:
    """False when no line of the block is longer than `limit` bytes (so no cell is longer than `limit`
    characters): such a line would cover a whole window of limit/2 bytes without a newline."""
    width = max(1, (limit + 1) // 2)
    find = block.find
    if len(block) > width and find(newline, len(block) - width) == -1:
        return True
    return any(find(newline, start, start + width) == -1 for start in range(0, len(block) - width + 1, width))


def read_csv(stream: io.BufferedIOBase) -> Table:
    """Stream a CSV from a binary file object without loading it whole."""
    sample = stream.read(SNIFF_BYTES)
    stream.seek(0)
    if not sample.strip():
        raise FileFormatError(gettext("The file is empty."))
    encoding = detect_encoding(sample)
    first = sample.decode(encoding, errors="ignore").lstrip("\ufeff").splitlines()[0]
    delimiter = detect_delimiter(first)
    max_rows, max_columns = _limit("IMPORT_MAX_ROWS"), _limit("IMPORT_MAX_COLUMNS")
    max_chars, max_line_bytes = _limit("IMPORT_MAX_CELL_CHARS"), _limit("IMPORT_MAX_LINE_BYTES")
    # Files from old Macs end lines with \r alone; everything else has \n.
    newline = b"\n" if b"\n" in sample or b"\r" not in sample else b"\r"
    block_bytes = max(1, min(_CSV_BLOCK_BYTES, max_line_bytes))
    reader = None
    long_lines = False  # the block being read may have a line longer than a cell may be

    def line_too_long(line: int) -> FileFormatError:
        return FileFormatError(
            gettext("Line %(line)d is longer than %(limit)d bytes; it cannot be a row of an import.")
            % {"line": line, "limit": max_line_bytes}
        )

    def decoded(block: bytes, codec: str) -> Iterator[str]:
        try:
            return io.StringIO(block.decode(codec), newline="")
        except UnicodeDecodeError as exc:
            raise FileFormatError(
                gettext(
                    "Line %(line)d: the characters cannot be read as %(encoding)s — the file mixes encodings. "
                    "Save it from the spreadsheet as 'CSV UTF-8' and upload again."
                )
                % {"line": reader.line_num + _line_ends(block[: exc.start]) + 1, "encoding": encoding}
            ) from exc

    def blocks() -> Iterator[Iterator[str]]:
        """The file in blocks of whole lines, each decoded on its own: lines are cut at the newline byte,
        which is the same byte in every encoding we read, so no character is ever split. No line is read
        further than the line length limit."""
        nonlocal long_lines
        codec = encoding
        pending = b""
        while True:
            chunk = stream.read(block_bytes)
            if not chunk:
                if not pending:
                    return
                block, pending = pending, b""
            else:
                data = pending + chunk if pending else chunk
                cut = data.rfind(newline) + 1
                if newline == b"\r" and cut == len(data):
                    cut = data.rfind(newline, 0, len(data) - 1) + 1  # a \r\n may straddle the blocks
                if not cut:
                    if len(data) > max_line_bytes:
                        raise line_too_long(reader.line_num + 1)
                    pending = data
                    continue
                # Only the first line can be longer than a block: it began in what was pending.
                if pending and data.find(newline) > max_line_bytes:
                    raise line_too_long(reader.line_num + 1)
                block, pending = data[:cut], data[cut:]
                if len(pending) > max_line_bytes:
                    raise line_too_long(reader.line_num + _line_ends(block) + 1)
            long_lines = _may_have_long_line(block, newline, max_chars)
            yield decoded(block, codec)
            codec = "utf-8" if codec == "utf-8-sig" else codec  # the BOM opens the first block only

    reader = csv.reader(itertools.chain.from_iterable(blocks()), delimiter=delimiter)
    try:
        headers = next(reader)
    except StopIteration as exc:
        raise FileFormatError(gettext("The file is empty.")) from exc
    except csv.Error as exc:
        raise FileFormatError(gettext("The file's first line could not be read: %(error)s") % {"error": exc}) from exc
    header_line = reader.line_num
    _check_cells(headers, 1, max_columns, max_chars)
    headers = [h.strip().lstrip("\ufeff") for h in headers]

    def numbered_rows() -> Iterator[tuple[int, list[str]]]:
        line = reader.line_num
        try:
            for count, cells in enumerate(reader, 1):
                end = reader.line_num
                # A cell is never longer than its line: lengths are only looked at in a record of several
                # lines or in a block that may hold a long line, which keeps the common case fast.
                if count > max_rows or len(cells) > max_columns or ((long_lines or end - line > 1) and cells):
                    if count > max_rows:
                        raise _too_many_rows(line + 1, max_rows)
                    _check_cells(cells, line + 1, max_columns, max_chars)
                yield line + 1, cells
                line = end
        except csv.Error as exc:
            # The csv module's own words (in English) stay in brackets: they say what it stumbled on.
            raise FileFormatError(
                gettext("Line %(line)d: the CSV cannot be read (%(error)s).") % {"line": reader.line_num, "error": exc}
            ) from exc

    return Table(
        headers=headers,
        numbered_rows=numbered_rows(),
        encoding=encoding,
        delimiter=delimiter,
        first_line=header_line + 1,
    )


# --- XLSX -------------------------------------------------------------------------------------------

_XLSX_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, ParseError, EOFError, NotImplementedError)
_OFFICE_DOCUMENT = "/officeDocument"
_LOCAL_NAMES: dict[str, str] = {}


def _local(tag: str) -> str:
    """'{namespace}row' -> 'row', cached: the sheet has millions of tags and only a few names."""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = _LOCAL_NAMES[tag] = tag.rpartition("}")[2]
    return name


def _not_xlsx() -> FileFormatError:
    return FileFormatError(gettext("The file is not a valid XLSX workbook."))


def _check_archive(archive: zipfile.ZipFile) -> None:
    """Refuse a workbook whose parts would unpack to more than we are willing to read, before unpacking."""
    parts = archive.infolist()
    max_parts = _limit("IMPORT_XLSX_MAX_PARTS")
    if len(parts) > max_parts:
        raise FileFormatError(
            gettext(
                "The workbook has %(count)d parts, more than the %(limit)d allowed. "
                "Save the sheet as CSV and upload that."
            )
            % {"count": len(parts), "limit": max_parts}
        )
    max_ratio, ratio_from = _limit("IMPORT_XLSX_MAX_RATIO"), _limit("IMPORT_XLSX_RATIO_FROM_BYTES")
    total = 0
    for part in parts:
        name = part.filename
        base = posixpath.basename(name.lower())
        if base.startswith("sharedstrings"):
            setting = "IMPORT_XLSX_MAX_SHARED_STRINGS_BYTES"
        elif base.startswith("sheet"):  # xl/worksheets/sheet1.xml, or elsewhere in other writers' files
            setting = "IMPORT_XLSX_MAX_SHEET_BYTES"
        else:
            setting = "IMPORT_XLSX_MAX_PART_BYTES"
        limit = _limit(setting)
        if part.file_size > limit:
            raise FileFormatError(
                gettext(
                    "The workbook unpacks to %(size)s MB in %(part)s, more than the %(limit)s MB allowed. "
                    "Save the sheet as CSV and upload that."
                )
                % {"size": _megabytes(part.file_size), "part": name, "limit": _megabytes(limit)}
            )
        if part.file_size > ratio_from and part.file_size > max_ratio * max(part.compress_size, 1):
            raise FileFormatError(
                gettext(
                    "The workbook's part %(part)s unpacks to %(ratio)d times its packed size, more than the "
                    "%(limit)d times a spreadsheet does. Save the sheet as CSV and upload that."
                )
                % {"part": name, "ratio": part.file_size // max(part.compress_size, 1), "limit": max_ratio}
            )
        total += part.file_size
    max_total = _limit("IMPORT_XLSX_MAX_TOTAL_BYTES")
    if total > max_total:
        raise FileFormatError(
            gettext(
                "The workbook unpacks to %(size)s MB, more than the %(limit)s MB allowed. "
                "Save the sheet as CSV and upload that."
            )
            % {"size": _megabytes(total), "limit": _megabytes(max_total)}
        )


def _megabytes(size: int) -> str:
    return f"{size / MB:.0f}" if size >= 10 * MB else f"{size / MB:.1f}".rstrip("0").rstrip(".") or "0"


def _events(archive: zipfile.ZipFile, name: str, keep: str = "") -> Iterator[tuple[str, str, object]]:
    """(event, local name, element) of one part, streamed. Each finished element is dropped from its parent
    once the caller has seen its end, so memory stays flat however long the part is; only inside a `keep`
    element (a cell, a shared string) are the children kept until it ends, and only a few of them."""
    from defusedxml.ElementTree import iterparse

    stack = []
    kept = 0  # elements of the open `keep` element, itself included
    with archive.open(name) as source:
        for event, element in iterparse(source, events=("start", "end")):
            tag = _local(element.tag)
            if event == "start":
                if kept or tag == keep:
                    kept += 1
                    if kept > XLSX_MAX_CELL_ELEMENTS:
                        raise FileFormatError(
                            gettext("The workbook's part %(part)s has a cell made of more than %(limit)d pieces.")
                            % {"part": name, "limit": XLSX_MAX_CELL_ELEMENTS}
                        )
                stack.append(element)
                yield event, tag, element
                continue
            stack.pop()
            yield event, tag, element
            if tag == keep:
                kept = 0
            elif kept:
                continue  # the keep element still needs it
            if stack:
                stack[-1].remove(element)


def _rich_text(element) -> str:
    """The text of a shared string or inline string: its <t>, or the <t> of each run (<r>); not phonetics."""
    parts = []
    for child in element:
        tag = _local(child.tag)
        if tag == "t":
            parts.append(child.text or "")
        elif tag == "r":
            parts.extend(grandchild.text or "" for grandchild in child if _local(grandchild.tag) == "t")
    return "".join(parts)


def _relationships(archive: zipfile.ZipFile, source: str) -> dict[str, tuple[str, str]]:
    """Id -> (type, part name) of a part's relationships (the .rels next to it)."""
    folder, base = posixpath.split(source)
    rels = posixpath.join(folder, "_rels", base + ".rels")
    found = {}
    if rels not in archive.NameToInfo:
        return found
    for event, tag, element in _events(archive, rels):
        if event == "start" and tag == "Relationship" and element.get("TargetMode") != "External":
            target = element.get("Target", "")
            target = target[1:] if target.startswith("/") else posixpath.normpath(posixpath.join(folder, target))
            found[element.get("Id", "")] = (element.get("Type", ""), target)
    return found


def _date_styles(archive: zipfile.ZipFile, name: str | None) -> tuple[set[int], set[int]]:
    """Indexes of the cell styles whose number format shows a date, and those showing a duration."""
    from openpyxl.styles.numbers import builtin_format_code, is_date_format, is_timedelta_format

    custom: dict[int, str] = {}
    formats: list[int] = []
    if name and name in archive.NameToInfo:
        depth = in_cell_xfs = 0
        for event, tag, element in _events(archive, name):
            depth += 1 if event == "start" else -1
            if event == "start" and tag == "numFmt":
                custom[_int(element.get("numFmtId"))] = element.get("formatCode", "")
            elif tag == "cellXfs":
                in_cell_xfs = event == "start"
            elif event == "start" and tag == "xf" and in_cell_xfs:
                formats.append(_int(element.get("numFmtId")))
    dates, durations = set(), set()
    for index, format_id in enumerate(formats):
        code = custom[format_id] if format_id in custom else builtin_format_code(format_id)
        if code and is_date_format(code):
            dates.add(index)
        if code and is_timedelta_format(code):
            durations.add(index)
    return dates, durations


def _int(text) -> int:
    try:
        return int(text or 0)
    except ValueError:
        return 0


def _shared_strings(archive: zipfile.ZipFile, name: str | None) -> list[str]:
    strings: list[str] = []
    if name and name in archive.NameToInfo:
        for event, tag, element in _events(archive, name, keep="si"):
            if event == "end" and tag == "si":
                strings.append(_rich_text(element).replace("x005F_", ""))
    return strings


def read_xlsx(stream: io.BufferedIOBase) -> Table:
    """Stream the first worksheet of an XLSX, looking only at the cells its XML holds."""
    try:
        archive = zipfile.ZipFile(stream)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise _not_xlsx() from exc
    try:
        _check_archive(archive)
        sheet = _open_first_sheet(archive)
        header_line, headers = next(sheet, (0, None))
    except FileFormatError:
        archive.close()
        raise
    except (*_XLSX_ERRORS, KeyError, ValueError, RuntimeError) as exc:
        archive.close()
        raise _not_xlsx() from exc
    if headers is None:
        archive.close()
        raise FileFormatError(gettext("The workbook's first sheet is empty."))

    def numbered_rows() -> Iterator[tuple[int, list[str]]]:
        last = header_line
        try:
            for last, cells in sheet:  # the last row read names where a damage was found
                yield last, cells
        except FileFormatError:
            raise
        except (*_XLSX_ERRORS, KeyError, ValueError, IndexError, OverflowError, RuntimeError) as exc:
            raise FileFormatError(
                gettext("The workbook is damaged after row %(line)d and cannot be read to its end.") % {"line": last}
            ) from exc
        finally:
            archive.close()

    return Table(
        headers=[cell.strip() for cell in headers],
        numbered_rows=numbered_rows(),
        encoding="xlsx",
        first_line=header_line + 1,
    )


def _open_first_sheet(archive: zipfile.ZipFile) -> Iterator[tuple[int, list[str]]]:
    """The non-empty rows of the workbook's first worksheet as (row number, cells); the first is the header."""
    workbook = next(
        (target for kind, target in _relationships(archive, "").values() if kind.endswith(_OFFICE_DOCUMENT)),
        "xl/workbook.xml",
    )
    relationships = _relationships(archive, workbook)
    date1904 = False
    sheet = None
    for event, tag, element in _events(archive, workbook):
        if event != "start":
            continue
        if tag == "workbookPr":
            date1904 = element.get("date1904", "").lower() in ("1", "true")
        elif tag == "sheet" and sheet is None:
            kind, target = relationships.get(element.get(_RELATIONSHIP_ID, ""), ("", ""))
            if kind.endswith("/worksheet") and target in archive.NameToInfo:
                sheet = target
    if sheet is None:
        raise FileFormatError(gettext("The workbook has no worksheet."))
    by_kind = {kind.rpartition("/")[2]: target for kind, target in relationships.values()}
    dates, durations = _date_styles(archive, by_kind.get("styles"))
    strings = _shared_strings(archive, by_kind.get("sharedStrings"))
    return _sheet_rows(archive, sheet, strings, dates, durations, date1904)


_RELATIONSHIP_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


def _sheet_rows(archive, name, strings, dates, durations, date1904) -> Iterator[tuple[int, list[str]]]:
    from openpyxl.utils.cell import column_index_from_string
    from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel, from_ISO8601

    epoch = CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900
    max_rows, max_columns = _limit("IMPORT_MAX_ROWS"), _limit("IMPORT_MAX_COLUMNS")
    max_chars = _limit("IMPORT_MAX_CELL_CHARS")
    in_data = False
    line = column = 0
    cells: list[str] = []
    header_seen = False
    count = 0
    for event, tag, element in _events(archive, name, keep="c"):
        if not in_data:
            in_data = tag == "sheetData" and event == "start"
            continue
        if tag == "c":
            if event == "start":
                continue
            reference = element.get("r")
            if reference:
                column = column_index_from_string(reference.rstrip("0123456789"))
            else:
                column += 1
            text = _cell_value(element, strings, dates, durations, epoch, from_excel, from_ISO8601)
            if not text:
                continue
            if column > max_columns:
                raise FileFormatError(
                    gettext(
                        "Line %(line)d has a value in column %(column)d; a file may have at most %(limit)d columns."
                    )
                    % {"line": line, "column": column, "limit": max_columns}
                )
            if len(text) > max_chars:
                raise FileFormatError(
                    gettext(
                        "Line %(line)d, column %(column)d: the cell has %(length)d characters, more than the "
                        "%(limit)d allowed."
                    )
                    % {"line": line, "column": column, "length": len(text), "limit": max_chars}
                )
            if column > len(cells):
                cells.extend([""] * (column - len(cells) - 1))
                cells.append(text)
            else:
                cells[column - 1] = text
        elif tag == "row":
            if event == "start":
                reference = element.get("r")
                number = int(float(reference)) if reference else line + 1
                if number <= line:
                    raise ValueError("rows out of order")
                line = number
                column = 0
                cells = []
            elif cells:
                if header_seen:
                    count += 1
                    if count > max_rows:
                        raise _too_many_rows(line, max_rows)
                header_seen = True
                yield line, cells
        elif tag == "sheetData":
            return


def _cell_value(element, strings, dates, durations, epoch, from_excel, from_iso) -> str:
    kind = element.get("t", "n")
    value = None
    for child in element:
        name = _local(child.tag)
        if name == "v":
            value = child.text
        elif name == "is" and kind == "inlineStr":
            return _rich_text(child)
    if not value:
        return ""
    if kind == "n":
        number = float(value) if "." in value or "e" in value or "E" in value else int(value)
        style = element.get("s")
        if style and int(style) in dates:
            try:
                return _cell_text(from_excel(number, epoch, timedelta=int(style) in durations))
            except (OverflowError, ValueError):
                return "#VALUE!"
        return _cell_text(number)
    if kind == "s":
        return strings[int(value)]
    if kind == "b":
        return str(bool(int(value)))
    if kind == "d":
        return _cell_text(from_iso(value))
    return value  # str (a formula's text), e (an error such as #N/A)


def read_table(stream: io.BufferedIOBase, filename: str) -> Table:
    name = filename.lower()
    if name.endswith(".xlsx"):
        return read_xlsx(stream)
    if name.endswith((".csv", ".txt")):
        return read_csv(stream)
    raise FileFormatError(gettext("'%(name)s' is neither a .csv nor an .xlsx file.") % {"name": filename})


def _cell_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ") if value.time() != datetime.min.time() else value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# --- Values ---------------------------------------------------------------------------------------

_DATE_PATTERNS = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), ("y", "m", "d")),
    (re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$"), ("d", "m", "y")),
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$"), ("d", "m", "y")),
)
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def parse_date(text: str) -> date:
    """ISO (2026-03-01) or Polish (01.03.2026) dates."""
    text = text.strip()
    for pattern, order in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            parts = dict(zip(order, (int(g) for g in match.groups()), strict=True))
            try:
                return date(parts["y"], parts["m"], parts["d"])
            except ValueError as exc:
                raise ValueError(gettext("'%(value)s' is not a real date") % {"value": text}) from exc
    raise ValueError(gettext("'%(value)s' is not a date (use 2026-03-01 or 01.03.2026)") % {"value": text})


_FAST_DATETIME = re.compile(r"^(?:(\d{4})-(\d\d)-(\d\d)|(\d\d)\.(\d\d)\.(\d{4}))(?:[ T](\d\d):(\d\d)(?::(\d\d))?)?$")


def parse_datetime(text: str) -> datetime:
    """A date with an optional time (2026-03-01 14:30, 01.03.2026 14:30:05, or ISO with T)."""
    match = _FAST_DATETIME.match(text)
    if match:  # the shapes files nearly always have: one regex instead of the general path
        y1, m1, d1, d2, m2, y2, hh, mm, ss = match.groups()
        try:
            return datetime(int(y1 or y2), int(m1 or m2), int(d1 or d2), int(hh or 0), int(mm or 0), int(ss or 0))
        except ValueError:
            pass  # the general path below says what is wrong
    text = text.strip().replace("T", " ")
    day, _, clock = text.partition(" ")
    parsed = parse_date(day)
    hour = minute = second = 0
    if clock:
        match = _TIME.match(clock.strip()[:8])
        if not match:
            raise ValueError(gettext("'%(value)s' has a time that is not HH:MM or HH:MM:SS") % {"value": text})
        hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError(gettext("'%(value)s' has a time that does not exist") % {"value": text})
    return datetime(parsed.year, parsed.month, parsed.day, hour, minute, second)


def parse_decimal(text: str, *, places: int = 2) -> Decimal:
    """1234.56, 1234,56, 1 234,56 and 1.234,56 are the same amount."""
    cleaned = text.strip().replace("\xa0", "").replace(" ", "").replace("zł", "").replace("PLN", "")
    if "," in cleaned and "." in cleaned:
        cleaned = (
            cleaned.replace(".", "").replace(",", ".")
            if cleaned.rfind(",") > cleaned.rfind(".")
            else (cleaned.replace(",", ""))
        )
    else:
        cleaned = cleaned.replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(gettext("'%(value)s' is not a number") % {"value": text}) from exc
    if not value.is_finite():
        raise ValueError(gettext("'%(value)s' is not a number") % {"value": text})
    try:
        quantized = value.quantize(Decimal(1).scaleb(-places))
    except ArithmeticError as exc:  # more digits than decimal arithmetic carries (28)
        raise ValueError(gettext("'%(value)s' is too large") % {"value": text}) from exc
    if value != quantized:
        raise ValueError(
            ngettext(
                "'%(value)s' has more than %(places)d decimal place",
                "'%(value)s' has more than %(places)d decimal places",
                places,
            )
            % {"value": text, "places": places}
        )
    return quantized


_TRUE = {"1", "tak", "t", "yes", "y", "true", "prawda", "x"}
_FALSE = {"0", "nie", "n", "no", "false", "fałsz", ""}


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(gettext("'%(value)s' is not yes/no (use tak/nie, 1/0)") % {"value": text})
