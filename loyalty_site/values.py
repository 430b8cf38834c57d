"""Whether a value fits the database column it is meant for, with the limits read from the model field.

An import's preview promises what the import will write, so every value the database would refuse must be
refused in the preview, in words staff understand. The limits come from the fields themselves (max_length,
max_digits and decimal_places, the column's integer range on this database), so a migration that changes a
column changes the check too. Each function returns what is wrong, or None; it knows no model of ours.
"""

from datetime import date, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Field
from django.utils import formats
from django.utils.translation import gettext, ngettext

# The dates staff may write in a file. Python's datetimes end at years 1 and 9999, and a value near either end
# overflows when it is moved to another time zone or a date is added to it (expiry, "until the end of the day");
# no date in a loyalty programme is before 1900 or after 2999.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2999


def too_long(field: Field, text: str) -> str | None:
    """The text is longer than the column holds: refused, never cut."""
    limit = field.max_length
    if limit is None or len(text) <= limit:
        return None
    return ngettext("is longer than %(limit)d character", "is longer than %(limit)d characters", limit) % {
        "limit": limit
    }


def integer_range(field: Field) -> tuple[int, int]:
    """The smallest and largest whole number the field's column holds on this database."""
    low, high = connection.ops.integer_field_range(field.get_internal_type())
    # SQLite's ranges are unbounded (None); the other databases' columns are 32- or 64-bit.
    return (-(2**63) if low is None else low, 2**63 - 1 if high is None else high)


def integer_problem(field: Field, number: int, text: str, *, maximum: int | None = None) -> str | None:
    """The number is outside the column's range, or above `maximum`, a business cap tighter than the column."""
    low, high = integer_range(field)
    if maximum is not None:
        high = min(high, maximum)
    if number > high:
        return gettext("'%(value)s' is too large: at most %(limit)s") % {
            "value": text,
            "limit": formats.number_format(high, force_grouping=True),
        }
    if number < low:
        return gettext("'%(value)s' is too small: at least %(limit)s") % {
            "value": text,
            "limit": formats.number_format(low, force_grouping=True),
        }
    return None


def decimal_problem(field: Field, value: Decimal, text: str) -> str | None:
    """The amount has more digits before or after the point than the column keeps."""
    places = field.decimal_places
    if value != value.quantize(Decimal(1).scaleb(-places)):
        return ngettext(
            "'%(value)s' has more than %(places)d decimal place",
            "'%(value)s' has more than %(places)d decimal places",
            places,
        ) % {"value": text, "places": places}
    if abs(value) >= Decimal(10) ** (field.max_digits - places):
        return decimal_too_large(field, text)
    return None


def decimal_too_large(field: Field, text: str) -> str:
    """What is wrong with an amount above what the column holds (also one too long to be read as a number)."""
    places = field.decimal_places
    largest = Decimal(10) ** (field.max_digits - places) - Decimal(1).scaleb(-places)
    return gettext("'%(value)s' is too large: at most %(limit)s") % {
        "value": text,
        "limit": formats.number_format(largest, places, force_grouping=True),
    }


def date_problem(value: date | datetime, text: str) -> str | None:
    """The date (or the date of a moment, before it is given a time zone) is outside the years we accept."""
    if EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        return None
    return gettext("'%(value)s' is not a date between the years %(earliest)d and %(latest)d") % {
        "value": text,
        "earliest": EARLIEST_YEAR,
        "latest": LATEST_YEAR,
    }
