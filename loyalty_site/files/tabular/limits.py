"""The limits every upload is held to, the error staff read, and the table a reader hands the engine."""

from collections.abc import Iterator
from dataclasses import dataclass, field

from django.conf import settings
from django.utils.translation import gettext

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
