"""XLSX read by our own streaming pass over the first sheet, within the limits checked on the zip first."""

import io
import posixpath
import zipfile
import zlib
from collections.abc import Iterator
from datetime import date, datetime
from xml.etree.ElementTree import ParseError

from django.utils.translation import gettext

from .limits import MB, XLSX_MAX_CELL_ELEMENTS, FileFormatError, Table, _limit, _too_many_rows

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
