"""Cell readers shared by the import handlers of code-keyed things (partners, rewards, challenges, badges): each
reads one cell of a row into `data`, or records on the row's outcome why it cannot, in staff's words."""

from collections.abc import Callable

from django.utils import translation
from django.utils.translation import gettext

from loyalty_site.files.tabular import parse_bool

from .handlers import Outcome


def choice_lookup(choices) -> dict[str, str]:
    """Every accepted spelling of a choice, lower case: its code and its English and Polish names."""
    lookup = {}
    for code, label in choices:
        if not code:
            continue
        lookup[code.lower()] = code
        for language in ("en", "pl"):
            with translation.override(language):
                lookup[str(label).lower()] = code
    return lookup


def code_cell(
    outcome: Outcome, values: dict[str, str], seen: set, *, kind: str, problem: Callable[[str], str] | None = None
) -> str:
    """The row's `code`, its natural key: refused when empty, when `problem` has something to say about it, or
    when an earlier row of the file (`seen`, shared by the whole file) had the same one."""
    code = values.get("code", "")
    if not code:
        outcome.fail("code", "", gettext("is empty"))
    elif problem is not None and (message := problem(code)):
        outcome.fail("code", code, message)
    elif (kind, code) in seen:
        outcome.fail("code", code, gettext("appears more than once in the file"))
    seen.add((kind, code))
    return code


def bool_cell(outcome: Outcome, values: dict[str, str], data: dict, column: str) -> None:
    """tak/nie (yes/no, 1/0, ...) as parse_bool reads it."""
    if text := values.get(column, ""):
        try:
            data[column] = parse_bool(text)
        except ValueError as exc:
            outcome.fail(column, text, str(exc))
