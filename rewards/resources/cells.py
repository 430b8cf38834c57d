"""Reading the cells of the points imports: keys, amounts and moments, refused in staff's words."""

import functools
import re
from datetime import datetime, timedelta
from decimal import Decimal

from django.utils import timezone
from django.utils.translation import gettext, ngettext

from loyalty_site.files.importing import Outcome
from loyalty_site.files.tabular import parse_datetime, parse_decimal
from loyalty_site.values import date_problem, decimal_too_large

ROUND_CHUNK = 5000  # rows per transaction when a round is posted in processes


KEY = re.compile(r"^[0-9A-Za-z_\-./]{1,64}$")


WHOLE_NUMBER = re.compile(r"^[+-]?[0-9]+$")


LINE_COLUMNS = ("sku", "product_name", "category", "line_amount")  # a row with one of them filled has a line


@functools.cache
def _field(model, name: str):
    return model._meta.get_field(name)


@functools.cache
def _amount_limit(field) -> Decimal:
    """The first amount too large for the decimal column `field` (decimal_problem's bound, looked up once)."""
    return Decimal(10) ** (field.max_digits - field.decimal_places)


def _key_problem() -> str:
    """What is wrong with an id that KEY refuses."""
    return ngettext(
        "may hold only letters, digits and - _ . / (at most %(limit)d character)",
        "may hold only letters, digits and - _ . / (at most %(limit)d characters)",
        64,
    ) % {"limit": 64}


class _Clock:
    """The current time zone and "now", looked up once per chunk: per row they were a tenth of the import."""

    def __init__(self):
        self.zone = timezone.get_current_timezone()
        self.latest = timezone.now() + timedelta(minutes=5)

    def aware(self, value: datetime) -> datetime:
        # What timezone.make_aware does for a zoneinfo zone.
        return value.replace(tzinfo=self.zone) if value.tzinfo is None else value


def _parse_when(
    outcome: Outcome, column: str, text: str, *, required: bool, clock: _Clock | None = None
) -> datetime | None:
    if not text:
        if required:
            outcome.fail(column, "", gettext("is empty"))
        return None
    clock = clock or _Clock()
    try:
        moment = parse_datetime(text)
    except ValueError as exc:
        outcome.fail(column, text, str(exc))
        return None
    if problem := date_problem(moment, text):
        outcome.fail(column, text, problem)
        return None
    when = clock.aware(moment)
    if when > clock.latest:
        outcome.fail(column, text, gettext("'%(value)s' is in the future") % {"value": text})
    return when


def _parse_amount(
    outcome: Outcome, column: str, text: str, field, *, positive: bool = False, signed: bool = False
) -> Decimal | None:
    """An amount in PLN that `field` (the model field it is written to) holds. `signed`: a negative amount is
    read, for rewards.planning to refuse in the words every path uses."""
    if not text:
        outcome.fail(column, "", gettext("is empty"))
        return None
    try:
        amount = parse_decimal(text, places=field.decimal_places)
    except ValueError as exc:
        outcome.fail(column, text, str(exc))
        return None
    except ArithmeticError:  # more digits than decimal arithmetic carries
        outcome.fail(column, text, decimal_too_large(field, text))
        return None
    # parse_decimal kept the column's decimal places (or refused the text): only the size is left to check,
    # as decimal_problem does, with the bound looked up once per column.
    if abs(amount) >= _amount_limit(field):
        outcome.fail(column, text, decimal_too_large(field, text))
        return None
    if positive and amount <= 0:
        outcome.fail(column, text, gettext("'%(value)s' must be greater than zero") % {"value": text})
    elif amount < 0 and not signed:
        outcome.fail(column, text, gettext("'%(value)s' must be zero or more") % {"value": text})
    return amount
