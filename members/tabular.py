"""Reading staff's uploaded spreadsheets: CSV in the encodings Polish offices produce, and XLSX.

Encodings are decided by rules rather than statistical guessing: a Polish file is UTF-8 (with or without
BOM), Windows-1250 or ISO-8859-2, and those two differ in exactly the bytes that carry ą, ś, ź, so counting
which reading yields Polish letters decides reliably even on short files.
"""

import csv
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext, ngettext

POLISH_LETTERS = set("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ")
SNIFF_BYTES = 64 * 1024


class FileFormatError(ValueError):
    """The whole file cannot be read; the message is meant for staff."""


@dataclass
class Table:
    headers: list[str]
    rows: Iterator[list[str]]
    encoding: str = ""
    delimiter: str = ""
    first_line: int = 2  # the line number (1-based, header is line 1) of the first data row
    notes: list[str] = field(default_factory=list)


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


def read_csv(stream: io.BufferedIOBase) -> Table:
    """Stream a CSV from a binary file object without loading it whole."""
    sample = stream.read(SNIFF_BYTES)
    stream.seek(0)
    if not sample.strip():
        raise FileFormatError(gettext("The file is empty."))
    encoding = detect_encoding(sample)
    text = io.TextIOWrapper(stream, encoding=encoding, errors="strict", newline="")
    first = sample.decode(encoding, errors="ignore").lstrip("\ufeff").splitlines()[0]
    delimiter = detect_delimiter(first)
    reader = csv.reader(text, delimiter=delimiter)
    try:
        headers = [h.strip().lstrip("\ufeff") for h in next(reader)]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise FileFormatError(gettext("The file's first line could not be read: %(error)s") % {"error": exc}) from exc

    def rows() -> Iterator[list[str]]:
        try:
            yield from reader
        except UnicodeDecodeError as exc:
            raise FileFormatError(
                gettext(
                    "Line %(line)d: the characters cannot be read as %(encoding)s — the file mixes encodings. "
                    "Save it from the spreadsheet as 'CSV UTF-8' and upload again."
                )
                % {"line": reader.line_num + 1, "encoding": encoding}
            ) from exc
        except csv.Error as exc:
            # The csv module's own words (in English) stay in brackets: they say what it stumbled on.
            raise FileFormatError(
                gettext("Line %(line)d: the CSV cannot be read (%(error)s).") % {"line": reader.line_num, "error": exc}
            ) from exc

    return Table(headers=headers, rows=rows(), encoding=encoding, delimiter=delimiter)


def read_xlsx(stream: io.BufferedIOBase) -> Table:
    """Stream the first sheet of an XLSX (openpyxl read-only mode keeps memory flat)."""
    from zipfile import BadZipFile

    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(stream, read_only=True, data_only=True)
    except (InvalidFileException, BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FileFormatError(gettext("The file is not a valid XLSX workbook.")) from exc
    sheet = workbook.worksheets[0]
    values = sheet.iter_rows(values_only=True)
    try:
        headers = [_cell_text(v).strip() for v in next(values)]
    except StopIteration as exc:
        raise FileFormatError(gettext("The workbook's first sheet is empty.")) from exc

    def rows() -> Iterator[list[str]]:
        try:
            for row in values:
                yield [_cell_text(v) for v in row]
        finally:
            workbook.close()

    return Table(headers=headers, rows=rows(), encoding="xlsx")


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
    if value != value.quantize(Decimal(1).scaleb(-places)):
        raise ValueError(
            ngettext(
                "'%(value)s' has more than %(places)d decimal place",
                "'%(value)s' has more than %(places)d decimal places",
                places,
            )
            % {"value": text, "places": places}
        )
    return value.quantize(Decimal(1).scaleb(-places))


_TRUE = {"1", "tak", "t", "yes", "y", "true", "prawda", "x"}
_FALSE = {"0", "nie", "n", "no", "false", "fałsz", ""}


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(gettext("'%(value)s' is not yes/no (use tak/nie, 1/0)") % {"value": text})
