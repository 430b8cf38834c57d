"""A purchase's line items: one line read from a row of either file (the purchases file with its line
columns filled, or the lines file), the whole lines file read, and its rows no purchase claimed."""

from collections.abc import Iterable
from decimal import Decimal

from django.utils.translation import gettext

from loyalty_site.files.importing import Outcome, Row, row_problems
from loyalty_site.files.models import ImportJob
from loyalty_site.files.tabular import parse_decimal
from loyalty_site.values import decimal_problem, decimal_too_large
from members.models import PurchaseLine
from members.services import LineData

from ..planning import line_problems
from .cells import KEY, LINE_COLUMNS, _field, _key_problem, _parse_amount
from .lines_file import _in_lines_file, _LinesFile


def line_read(values: dict[str, str], outcome: Outcome, *, has_line: bool | None = None) -> LineData | None:
    """The row's line, or None without one (`has_line`: whether a line column is filled, when known)."""
    if not (any(values.get(c) for c in LINE_COLUMNS) if has_line is None else has_line):
        return None
    sku = values.get("sku", "")
    if not sku:
        outcome.fail("sku", "", gettext("is empty while other line columns are filled"))
    amount = _parse_amount(
        outcome, "line_amount", values.get("line_amount", ""), _field(PurchaseLine, "amount"), signed=True
    )
    # Refused when too long, as the batch refuses them: a cut name or category would earn by other rules.
    for problem in line_problems(
        sku=sku, product_name=values.get("product_name", ""), category=values.get("category", ""), amount=amount
    ):
        outcome.fail("line_amount" if problem.about == "amount" else problem.about, problem.value, problem.message)
    quantity = Decimal("1")
    if text := values.get("quantity"):
        field = _field(PurchaseLine, "quantity")
        try:
            quantity = parse_decimal(text, places=field.decimal_places)
            if quantity <= 0:
                raise ValueError(gettext("'%(value)s' must be greater than zero") % {"value": text})
            if problem := decimal_problem(field, quantity, text):
                raise ValueError(problem)
        except ValueError as exc:
            outcome.fail("quantity", text, str(exc))
        except ArithmeticError:  # more digits than decimal arithmetic carries
            outcome.fail("quantity", text, decimal_too_large(field, text))
    if amount is None or outcome.action == "invalid":
        return None
    return LineData(
        sku=sku,
        product_name=values.get("product_name", ""),
        category=values.get("category", ""),
        quantity=quantity,
        amount=amount,
    )


def lines_file_read(rows: Iterable[Row], *, job: ImportJob) -> _LinesFile:
    """The whole lines file by (source, purchase id): each row's line number and its line, or its errors."""
    default_source = job.options.get("source") or "import"
    lines = _LinesFile()
    for row in rows:
        values = row.values
        outcome = Outcome(line=row.line, action="line")
        # The engine fails the purchases file's refused cells itself; the lines file's rows are only seen here.
        row_problems(values, outcome)
        if extra := values.pop("__extra__", None):
            outcome.fail("", "", gettext("the row has more cells than the header (%(extra)s)") % {"extra": extra})
        external_id = values.get("purchase_id", "")
        if not external_id:
            outcome.fail("purchase_id", "", gettext("is empty"))
        elif not KEY.match(external_id):
            outcome.fail("purchase_id", external_id, _key_problem())
        if not any(values.get(c) for c in ("sku", "product_name", "category", "line_amount")):
            outcome.fail("sku", "", gettext("is empty"))
            outcome.fail("line_amount", "", gettext("is empty"))
        line = line_read(values, outcome)
        errors = [(_in_lines_file(column), value, message) for column, value, message in outcome.errors]
        if outcome.action == "invalid" and (not external_id or not KEY.match(external_id)):
            lines.loose.append(Outcome(line=row.line, action="invalid", errors=errors))
            continue
        key = (values.get("source") or default_source, external_id)
        lines.add(key, row.line, line, errors)
    return lines


def lines_unclaimed(lines: _LinesFile) -> list[Outcome]:
    """The lines file's rows whose purchase is not in the purchases file (and those without a purchase)."""
    outcomes = lines.loose
    lines.loose = []
    for (source, external_id), entries in lines.by_key.items():
        for number, _line, errors in map(lines.unpack, entries):
            outcome = Outcome(line=number, action="invalid", errors=errors or [])
            outcome.fail(
                _in_lines_file("purchase_id"),
                external_id,
                gettext("no purchase '%(purchase)s' from source '%(source)s' in the purchases file")
                % {"purchase": external_id, "source": source},
            )
            outcomes.append(outcome)
    lines.by_key = {}
    outcomes.sort(key=lambda outcome: outcome.line)
    return outcomes
