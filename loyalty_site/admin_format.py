"""Numbers in the admin's lists as the reader's language writes them: "13 636" and "82,99" in Polish,
"\u00d71,5" (times sign) for a multiplier, "1" (not "1,000") for a quantity of one.

Display only: the values stay ints and Decimals. A list column showing a number is a display method whose name
starts with `num_` (`num_points`, `num_amount`): static/css/admin_site.css right-aligns those cells in
tabular figures (Django gives each cell the class `field-<name>`, each header `column-<name>`).
"""

import re
from decimal import Decimal

from django.utils.formats import number_format

TIMES = "\u00d7"  # the multiplication sign


def whole(value) -> str:
    """An integer with the thousands grouped: 13636 -> "13 636"."""
    if value is None:
        return "—"
    return number_format(int(value), force_grouping=True)


def money(value) -> str:
    """An amount with two decimals and grouped thousands: 1234.5 -> "1 234,50"."""
    if value is None:
        return "—"
    return number_format(Decimal(value), 2, force_grouping=True)


def plain(value) -> str:
    """A Decimal without trailing zeros: 1.000 -> "1", 0.250 -> "0,25"."""
    if value is None:
        return "—"
    value = Decimal(value)
    normal = value.quantize(Decimal(1)) if value == value.to_integral() else value.normalize()
    places = max(0, -normal.as_tuple().exponent)
    return number_format(normal, places, force_grouping=True)


def multiplier(value) -> str:
    """The times sign and the factor: 1.50 -> "\u00d71,5"."""
    if value is None:
        return "—"
    return f"{TIMES}{plain(value)}"


_STORED_MULTIPLIER = re.compile(r"^(?P<name>.*?)\s*x(?P<value>\d+(?:\.\d+)?)$")


def rule_name(name: str) -> str:
    """A rule name stored with a multiplier written the programmer's way ("Srebrny x1.25") as the reader's
    ("Srebrny \u00d71,25"). Other names are returned as they are."""
    match = _STORED_MULTIPLIER.match(str(name))
    if not match:
        return str(name)
    return f"{match['name']} {multiplier(Decimal(match['value']))}".strip()
