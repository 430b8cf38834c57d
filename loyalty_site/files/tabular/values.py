"""Cell values as staff write them: Polish and ISO dates, amounts with comma or dot, tak/nie."""

import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from django.utils.translation import gettext, ngettext

_DATE_PATTERNS = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), ("y", "m", "d")),
    (re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$"), ("d", "m", "y")),
    (re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$"), ("d", "m", "y")),
)
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


def parse_date(text: str) -> date:
    """ISO (2026-03-01) or Polish (01.03.2026) dates."""
    text = text.strip()
    for pattern, order in _DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            parts = dict(zip(order, (int(g) for g in match.groups()), strict=True))
            try:
                return date(parts["y"], parts["m"], parts["d"])
            except ValueError as exc:
                raise ValueError(gettext("'%(value)s' is not a real date") % {"value": text}) from exc
    raise ValueError(gettext("'%(value)s' is not a date (use 2026-03-01 or 01.03.2026)") % {"value": text})


_FAST_DATETIME = re.compile(r"^(?:(\d{4})-(\d\d)-(\d\d)|(\d\d)\.(\d\d)\.(\d{4}))(?:[ T](\d\d):(\d\d)(?::(\d\d))?)?$")


def parse_datetime(text: str) -> datetime:
    """A date with an optional time (2026-03-01 14:30, 01.03.2026 14:30:05, or ISO with T)."""
    match = _FAST_DATETIME.match(text)
    if match:  # the shapes files nearly always have: one regex instead of the general path
        y1, m1, d1, d2, m2, y2, hh, mm, ss = match.groups()
        try:
            return datetime(int(y1 or y2), int(m1 or m2), int(d1 or d2), int(hh or 0), int(mm or 0), int(ss or 0))
        except ValueError:
            pass  # the general path below says what is wrong
    text = text.strip().replace("T", " ")
    day, _, clock = text.partition(" ")
    parsed = parse_date(day)
    hour = minute = second = 0
    if clock:
        match = _TIME.match(clock.strip()[:8])
        if not match:
            raise ValueError(gettext("'%(value)s' has a time that is not HH:MM or HH:MM:SS") % {"value": text})
        hour, minute, second = int(match[1]), int(match[2]), int(match[3] or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise ValueError(gettext("'%(value)s' has a time that does not exist") % {"value": text})
    return datetime(parsed.year, parsed.month, parsed.day, hour, minute, second)


def parse_decimal(text: str, *, places: int = 2) -> Decimal:
    """1234.56, 1234,56, 1 234,56 and 1.234,56 are the same amount."""
    cleaned = text.strip().replace("\xa0", "").replace(" ", "").replace("zł", "").replace("PLN", "")
    if "," in cleaned and "." in cleaned:
        cleaned = (
            cleaned.replace(".", "").replace(",", ".")
            if cleaned.rfind(",") > cleaned.rfind(".")
            else (cleaned.replace(",", ""))
        )
    else:
        cleaned = cleaned.replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation as exc:
        raise ValueError(gettext("'%(value)s' is not a number") % {"value": text}) from exc
    if not value.is_finite():
        raise ValueError(gettext("'%(value)s' is not a number") % {"value": text})
    try:
        quantized = value.quantize(Decimal(1).scaleb(-places))
    except ArithmeticError as exc:  # more digits than decimal arithmetic carries (28)
        raise ValueError(gettext("'%(value)s' is too large") % {"value": text}) from exc
    if value != quantized:
        raise ValueError(
            ngettext(
                "'%(value)s' has more than %(places)d decimal place",
                "'%(value)s' has more than %(places)d decimal places",
                places,
            )
            % {"value": text, "places": places}
        )
    return quantized


_TRUE = {"1", "tak", "t", "yes", "y", "true", "prawda", "x"}
_FALSE = {"0", "nie", "n", "no", "false", "fałsz", ""}


def parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(gettext("'%(value)s' is not yes/no (use tak/nie, 1/0)") % {"value": text})
