"""CSV in the encodings Polish offices produce, read line by line within the limits."""

import csv
import io
import itertools
from collections.abc import Iterator

from django.utils.translation import gettext

from .limits import FileFormatError, Table, _check_cells, _limit, _too_many_rows

POLISH_LETTERS = set("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ")
SNIFF_BYTES = 64 * 1024  # what the encoding is decided on
_CSV_BLOCK_BYTES = 256 * 1024  # decoded and checked a block at a time


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
