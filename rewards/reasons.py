"""Why points moved, in the reader's language: ledger entries and tier changes store what happened (a code and
its parameters), and this module turns that into a sentence when it is shown (admin, exports, portal).

Entries posted before codes existed carry an English sentence in `reason`; the ledger is append-only, so they
are never rewritten: `legacy_reason` recognises the sentences the code used to write and gives their code and
parameters, so old entries read in Polish too. A reason a person typed (a staff adjustment) is shown as typed.
"""

import re
from collections.abc import Callable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import formats
from django.utils.translation import gettext, pgettext

# The codes a writer may store, with how each reads. Parameters are plain JSON values (strings, numbers).
PURCHASE = "purchase"  # number, amount
RELEASED = "released"  # (none): the return window passed
REFUND = "refund"  # refund, number, amount
EXPIRED = "expired"  # earned (ISO date)
EVENT = "event"  # event (an EventRule.Event code)
MERGED_INTO = "merged_into"  # number
MERGED_FROM = "merged_from"  # number
TIER_QUALIFIED = "tier_qualified"
TIER_UPGRADE = "tier_upgrade"
TIER_DOWNGRADE = "tier_downgrade"  # days
NOTE = "note"  # text: typed by a person, shown as typed


def _amount(value: Any) -> str:
    try:
        return formats.number_format(Decimal(str(value)), 2, use_l10n=True, force_grouping=True)
    except (InvalidOperation, ValueError):
        return str(value)


def _day(value: Any) -> str:
    try:
        return formats.date_format(date.fromisoformat(str(value)), "SHORT_DATE_FORMAT")
    except ValueError:
        return str(value)


def _event(code: str) -> str:
    from .models import EventRule  # the labels are the model's choices, translated when read

    return str(dict(EventRule.Event.choices).get(code, code))


RENDERERS: Mapping[str, Callable[[Mapping[str, Any]], str]] = {
    PURCHASE: lambda p: (
        gettext("Purchase %(number)s (%(amount)s zł)")
        % {"number": p.get("number", ""), "amount": _amount(p.get("amount", ""))}
    ),
    RELEASED: lambda p: gettext("Return window passed"),
    REFUND: lambda p: (
        gettext("Refund %(refund)s of purchase %(number)s (%(amount)s zł)")
        % {"refund": p.get("refund", ""), "number": p.get("number", ""), "amount": _amount(p.get("amount", ""))}
    ),
    EXPIRED: lambda p: gettext("Points earned on %(date)s expired") % {"date": _day(p.get("earned", ""))},
    EVENT: lambda p: _event(p.get("event", "")),
    MERGED_INTO: lambda p: gettext("Merged into member %(number)s") % {"number": p.get("number", "")},
    MERGED_FROM: lambda p: gettext("Merged from member %(number)s") % {"number": p.get("number", "")},
    TIER_QUALIFIED: lambda p: pgettext("tier change", "Qualified for the tier"),
    TIER_UPGRADE: lambda p: pgettext("tier change", "Upgrade"),
    TIER_DOWNGRADE: lambda p: gettext("Downgrade after %(days)s days' grace") % {"days": p.get("days", "")},
    NOTE: lambda p: str(p.get("text", "")),
}

# The sentences the code wrote before codes existed (see the module's docstring), newest wording first.
_LEGACY_PATTERNS: tuple[tuple[re.Pattern, str], ...] = (
    (re.compile(r"^Purchase (?P<number>.+) \((?P<amount>-?[\d.]+) PLN\)$"), PURCHASE),
    (re.compile(r"^Return window passed$"), RELEASED),
    (re.compile(r"^Refund (?P<refund>.+) of purchase (?P<number>.+): (?P<amount>-?[\d.]+) PLN$"), REFUND),
    (re.compile(r"^Points earned (?P<earned>\d{4}-\d{2}-\d{2}) expired$"), EXPIRED),
    (re.compile(r"^Merged into (?P<number>.+)$"), MERGED_INTO),
    (re.compile(r"^Merged from (?P<number>.+)$"), MERGED_FROM),
    (re.compile(r"^qualified$"), TIER_QUALIFIED),
    (re.compile(r"^upgrade$"), TIER_UPGRADE),
    (re.compile(r"^downgrade after (?P<days>\d+) days' grace$"), TIER_DOWNGRADE),
)


def _event_by_label() -> dict[str, str]:
    """Event bonuses were written with the event's label in the language active then (Polish or English)."""
    from django.utils import translation

    from .models import EventRule

    labels = {}
    for language in ("pl", "en"):
        with translation.override(language):
            labels.update({str(label): code for code, label in EventRule.Event.choices})
    return labels


def legacy_reason(text: str) -> tuple[str, dict[str, Any]]:
    """(code, parameters) of a sentence an older version wrote; (NOTE, {"text": text}) when it is not one."""
    for pattern, code in _LEGACY_PATTERNS:
        match = pattern.match(text)
        if match:
            return code, match.groupdict()
    event = _event_by_label().get(text)
    if event:
        return EVENT, {"event": event}
    return NOTE, {"text": text}


def reason_text(*, code: str = "", params: Mapping[str, Any] | None = None, text: str = "") -> str:
    """The reason in the active language: from the code and its parameters, else from an older sentence."""
    if not code:
        code, params = legacy_reason(text or "")
    renderer = RENDERERS.get(code)
    if renderer is None:
        return text or code
    return renderer(params or {})


def entry_reason(entry) -> str:
    """A ledger entry's reason (or a tier change's) for display; reads `reason_code`/`reason_params` when the
    model has them, else the stored sentence."""
    return reason_text(
        code=getattr(entry, "reason_code", "") or "",
        params=getattr(entry, "reason_params", None),
        text=entry.reason,
    )
