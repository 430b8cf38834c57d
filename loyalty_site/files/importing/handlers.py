"""The protocol an app's import implements (`ImportHandler`), the rows and outcomes it sees, and the registry."""

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.utils.translation import gettext

from ..models import ImportJob
from ..tabular import FileFormatError

# One logger for the whole engine, named as before it became a package.
logger = logging.getLogger(__package__)


@dataclass(frozen=True)
class Figure:
    """A figure a job's page shows beside the counts (points to be posted, by rule): words, a value already
    formatted for the reader, and optionally where to see the records behind it."""

    label: str
    value: str
    url: str = ""


@dataclass(frozen=True)
class Column:
    name: str
    required: bool = False
    help: str = ""
    example: str = ""


@dataclass
class Row:
    line: int
    values: dict[str, str]


@dataclass
class Outcome:
    """What a row would do: new, update, skip (already there, unchanged) or invalid (with errors)."""

    line: int
    action: str
    data: Any = None
    errors: list[tuple[str, str, str]] = field(default_factory=list)  # (column, value, message)

    def fail(self, column: str, value: str, message: str) -> None:
        self.errors.append((column, value, message))
        self.action = "invalid"


class ImportHandler:
    """One kind of file. Every capability the engine uses is declared here, with the default a handler that
    does not need it gets; the engine reads these attributes and never asks whether a handler has one.

    Required: `kind`, `label`, `columns`, `permission`, `prepare` and `apply`.
    """

    kind: ClassVar[str]
    label: ClassVar[str]
    columns: ClassVar[list[Column]]
    permission: ClassVar[str]  # the model permission staff need, e.g. "members.add_member"

    # A second file (the purchases import: its line items), with its own columns; None: the kind takes none.
    # A handler that sets it implements `read_lines` and `unclaimed_lines`, and its `prepare` takes `lines=`.
    lines_columns: ClassVar[list[Column] | None] = None
    # Rows that must stay in one chunk and fail together (a purchase's lines): the key of a row, or None.
    group_key: ClassVar[Callable[[Row], Any] | None] = None
    # True when `apply` checks again everything the database may have changed since the preview (the
    # purchases import: its batch finds recorded purchases and inactive members itself). Its preview's
    # outcomes are then kept beside the upload and the import applies them without reading and validating
    # the file a second time, which was a fifth of the import's time.
    reuses_preview: ClassVar[bool] = False
    # A handler that can post a round of chunks in worker processes of its own (`_apply_rounds`) sets this to
    # a method `(outcomes, *, job, workers, round_started) -> bool` (False: nothing was written); None: the
    # engine applies chunk by chunk in its own transactions.
    apply_outside: ClassVar[Callable[..., bool] | None] = None
    # A kind that enrols members: the upload form asks whether they get the joining bonus, and a tick puts
    # this option (True) in the job's options; None: the form does not ask.
    joining_bonus_option: ClassVar[str | None] = None
    # The failed-rows report repeats the file's contact details: it then needs the setting
    # PERSONAL_DATA_PERMISSION, as exports of personal data do.
    personal_data: ClassVar[bool] = False

    def prepare(self, rows: list[Row], *, job: ImportJob, seen: set, lines: Any = None) -> list[Outcome]:
        """Validate and classify a chunk with as few queries as possible. Writes nothing. With a second file,
        `lines` is what `read_lines` returned and the handler may return more outcomes than rows (the second
        file's rows, after the chunk's own); `lines=` is passed only when the job has a second file."""
        raise NotImplementedError

    def apply(self, outcomes: list[Outcome], *, job: ImportJob) -> None:
        """Write the chunk's new and updated rows (bulk), inside the caller's transaction. A row the database
        refuses now (it changed since the preview) is marked invalid with `Outcome.fail`, not written."""
        raise NotImplementedError

    def read_lines(self, rows: Iterable[Row], *, job: ImportJob) -> Any:
        """The state of the whole second file, read once per preview (or re-read import)."""
        raise NotImplementedError

    def unclaimed_lines(self, lines: Any) -> list[Outcome]:
        """The second file's rows no row of the first file took, as errors."""
        raise NotImplementedError

    def preview_figures(self, outcomes: list[Outcome], *, job: ImportJob) -> dict[str, int]:
        """Whole numbers by key for a chunk of the preview; the engine adds them up over the chunks and keeps
        them in the job's options ("figures"). {}: the kind has none."""
        return {}

    def applied_figures(self, outcomes: list[Outcome], *, job: ImportJob) -> dict[str, int]:
        """Whole numbers by key for a chunk just applied (the outcomes `apply` saw); added up in the job's
        options ("applied_figures") with the applied counts, under the job's lock. {}: none."""
        return {}

    def figure_rows(self, job: ImportJob) -> list[Figure]:
        """What the job's page shows of those figures: the preview's before the import, what was written
        after it. The engine knows no domain model: the handler words and links them. []: nothing."""
        return []

    def consent_versions(self) -> list[str] | None:
        """The versions of the consent text, newest first, when the upload form asks which one the members
        agreed to (a file with consent columns); None: the form does not ask."""
        return None


HANDLERS: dict[str, ImportHandler] = {}


# Columns whose values are personal data, in a file of any kind: the preview's sample shows them masked by
# these functions to staff without the setting PERSONAL_DATA_PERMISSION. Apps add theirs (`mask_column`).
MASKED_COLUMNS: dict[str, Callable[[str], str]] = {}


def mask_column(name: str, mask: Callable[[str], str]) -> None:
    MASKED_COLUMNS[name] = mask


def register(handler: ImportHandler) -> ImportHandler:
    """Register a handler for its `kind`. It derives from `ImportHandler`, whose declared defaults answer for
    what it does not define: the engine never probes a handler for what it has."""
    if not isinstance(handler, ImportHandler):
        raise TypeError(f"{type(handler).__qualname__} must derive from ImportHandler to be registered")
    HANDLERS[handler.kind] = handler
    return handler


def handler_for(kind: str) -> ImportHandler:
    try:
        return HANDLERS[kind]
    except KeyError:
        raise FileFormatError(gettext("Unknown import kind '%(kind)s'.") % {"kind": kind}) from None
