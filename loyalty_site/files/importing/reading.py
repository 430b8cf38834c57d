"""A file read as rows: the header checked, cells cleaned and refused where the database would refuse them,
rows cut into chunks that keep a purchase's lines together."""

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

from django.utils.translation import gettext, ngettext, pgettext

from ..models import ImportJob
from ..tabular import FileFormatError, Table, read_table
from ..tabular.formulas import starts_formula
from .handlers import Column, ImportHandler, Outcome, Row, handler_for


def _open_table(job: ImportJob) -> Table:
    handler = handler_for(job.kind)
    job.file.open("rb")
    table = read_table(job.file.file, job.original_name)
    return _check_header(table, handler.columns)


def _open_lines_table(job: ImportJob, columns: list[Column]) -> Table:
    """The second file, its header checked like the first's; any problem names the file."""
    try:
        job.lines_file.open("rb")
        table = read_table(job.lines_file.file, job.lines_original_name or job.lines_file.name)
        return _check_header(table, columns)
    except FileFormatError as exc:
        raise FileFormatError(
            gettext("The lines file %(name)s: %(problem)s") % {"name": job.lines_original_name, "problem": exc}
        ) from exc


def _read_lines(job: ImportJob, handler: ImportHandler) -> Any:
    """The handler's state built from the whole second file, or None when the job has none."""
    columns = handler.lines_columns
    if not columns or not job.lines_file:
        return None
    try:
        return handler.read_lines(_rows(_open_lines_table(job, columns)), job=job)
    finally:
        job.lines_file.close()


def _check_header(table: Table, columns: list[Column]) -> Table:
    expected = {column.name for column in columns}
    headers = [h.strip().lower() for h in table.headers]
    missing = [c.name for c in columns if c.required and c.name not in headers]
    if missing:
        raise FileFormatError(
            ngettext(
                "Line 1: the required column %(columns)s is missing. The file has: %(found)s.",
                "Line 1: the required columns %(columns)s are missing. The file has: %(found)s.",
                len(missing),
            )
            % {
                "columns": ", ".join(missing),
                "found": _some([h for h in headers if h]) or pgettext("columns in the file", "none"),
            }
        )
    unknown = [h for h in headers if h and h not in expected]
    if unknown:
        raise FileFormatError(
            ngettext(
                "Line 1: unknown column %(columns)s. Allowed: %(allowed)s.",
                "Line 1: unknown columns %(columns)s. Allowed: %(allowed)s.",
                len(unknown),
            )
            % {"columns": _some(unknown), "allowed": ", ".join(sorted(expected))}
        )
    table.headers = headers
    return table


def _some(names: list[str], shown: int = 10) -> str:
    """The first few of a list of names from a file: a header of a million columns makes a short message."""
    text = ", ".join(name[:60] for name in names[:shown])
    if len(names) > shown:
        text += " " + gettext("and %(count)d more") % {"count": len(names) - shown}
    return text


def row_problems(values: dict, outcome: "Outcome") -> None:
    """Fail the outcome for the cells the engine refused before the handler saw them (`_rows`). `prepare`'s rows
    get this from the engine afterwards (`_fail_refused_cells`); a handler calls it for the rows the engine
    never sees an outcome of (the second file's, in `read_lines`)."""
    for column, value, message in values.pop(PROBLEMS, ()):
        outcome.fail(column, value, message)


PROBLEMS = "__problems__"


def _cell_problem(column: str, value: str) -> tuple[str, str, str]:
    # PostgreSQL refuses NUL in text, so such a cell would pass the preview and break the import part-way.
    return (
        column,
        value.replace("\x00", "\\0")[:60],
        gettext("contains a NUL character (binary data); the database cannot store it"),
    )


def _rows(table: Table) -> Iterator[Row]:
    width = len(table.headers)
    for line, raw in table.numbered_rows:
        if not any(cell.strip() for cell in raw):
            continue  # blank lines are not rows
        if len(raw) > width and any(cell.strip() for cell in raw[width:]):
            values = dict(zip(table.headers, raw, strict=False))
            values["__extra__"] = gettext("%(cells)d cells, the header has %(width)d") % {
                "cells": len(raw),
                "width": width,
            }
        else:
            values = dict(zip(table.headers, [*raw, *[""] * (width - len(raw))], strict=False))
        cleaned = {k: _unguard((v or "").strip()) for k, v in values.items()}
        # One search of the row's text for a NUL (a row of text is rarely binary); the cells only when found.
        if "\x00" in "".join(cleaned.values()):
            problems = [_cell_problem(k, v) for k, v in cleaned.items() if "\x00" in v]
            for column, _value, _message in problems:
                cleaned[column] = ""  # handlers never see the value; the row is failed for it
            cleaned[PROBLEMS] = problems
        yield Row(line=line, values=cleaned)


def _unguard(value: str) -> str:
    """Our exports prefix formula-like text with ' (exports.neutralise); a re-imported export drops it."""
    if len(value) > 1 and value[0] == "'" and starts_formula(value[1:]):
        return value[1:]
    return value


def _chunks(rows: Iterable[Row], size: int, group_key=None) -> Iterator[list[Row]]:
    """Chunks of about `size` rows; rows sharing a group key (a purchase's lines) stay in one chunk."""
    iterator = iter(rows)
    pending: list[Row] = []
    while True:
        chunk = pending + list(itertools.islice(iterator, size - len(pending)))
        pending = []
        if not chunk:
            return
        if group_key is not None:
            last = group_key(chunk[-1])
            for row in iterator:
                if group_key(row) != last:
                    pending = [row]
                    break
                chunk.append(row)
        yield chunk
