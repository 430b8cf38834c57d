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

import io

from django.utils.translation import gettext

from .csvfile import detect_delimiter, detect_encoding, read_csv
from .limits import FileFormatError, Table
from .values import parse_bool, parse_date, parse_datetime, parse_decimal
from .xlsxfile import read_xlsx

__all__ = [
    "FileFormatError",
    "Table",
    "detect_delimiter",
    "detect_encoding",
    "parse_bool",
    "parse_date",
    "parse_datetime",
    "parse_decimal",
    "read_csv",
    "read_table",
    "read_xlsx",
]


def read_table(stream: io.BufferedIOBase, filename: str) -> Table:
    name = filename.lower()
    if name.endswith(".xlsx"):
        return read_xlsx(stream)
    if name.endswith((".csv", ".txt")):
        return read_csv(stream)
    raise FileFormatError(gettext("'%(name)s' is neither a .csv nor an .xlsx file.") % {"name": filename})
