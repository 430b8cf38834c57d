"""Why points moved, in the reader's language: ledger entries and tier changes store what happened (a code and
its parameters), and this module turns that into a sentence when it is shown (admin, exports, portal).

Entries posted before codes existed carry an English sentence in `reason`; the ledger is append-only, so they
are never rewritten: `legacy_reason` recognises the sentences the code used to write and gives their code and
parameters, so old entries read in Polish too. A reason a person typed (a staff adjustment) is shown as typed.
"""

import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
NOTE = "note"  # text: typed by a person, shown as typed (in `reason`, or as the parameter "text")
REDEEMED = "redeemed"  # reward (its name, as the catalogue names it)
RESTORED = "restored"  # reward: a cancelled redemption's points given back
PARTNER = "partner"  # partner (its name), note (optional, as the partner's promotion calls it)
CHALLENGE = "challenge"  # challenge (its name)
REFERRAL = "referral"  # (none): a referral bonus
BIRTHDAY = "birthday"  # (none): a birthday bonus
# Any reason may carry "short": a reversal limited to the balance, with this many points already spent.


@dataclass(frozen=True, slots=True)
class Reason:
    """What a writer stores: a code and its parameters (JSON values), or a person's note (`note`)."""

    code: str
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def note(cls, text: str) -> "Reason":
        return cls(NOTE, {"text": text})

    def with_params(self, **params: Any) -> "Reason":
        return Reason(self.code, {**self.params, **params})

    def columns(self) -> tuple[str, str, dict[str, Any]]:
        """(reason, reason_code, reason_params) as a ledger entry stores them: a note's text in `reason` (what a
        person typed, searchable in the admin), every other reason as its code and parameters only."""
        if self.code == NOTE:
            params = {key: value for key, value in self.params.items() if key != "text"}
            return str(self.params.get("text", ""))[:255], NOTE, params
        return "", self.code, dict(self.params)


def as_reason(value: "Reason | str") -> Reason:
    """A writer's reason: a Reason as given, a string as a person's note."""
    return value if isinstance(value, Reason) else Reason.note(value or "")


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
    REDEEMED: lambda p: gettext("Reward: %(reward)s") % {"reward": p.get("reward", "")},
    RESTORED: lambda p: gettext("Cancelled redemption: %(reward)s") % {"reward": p.get("reward", "")},
    PARTNER: lambda p: (
        gettext("Partner %(partner)s: %(note)s") % {"partner": p.get("partner", ""), "note": p["note"]}
        if p.get("note")
        else gettext("Partner %(partner)s") % {"partner": p.get("partner", "")}
    ),
    CHALLENGE: lambda p: gettext("Challenge completed: %(challenge)s") % {"challenge": p.get("challenge", "")},
    REFERRAL: lambda p: gettext("Referral bonus"),
    BIRTHDAY: lambda p: gettext("Birthday bonus"),
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


@functools.cache
def _codes_by_label() -> dict[str, tuple[str, dict[str, Any]]]:
    """(code, parameters) of each label older versions wrote as a reason, in Polish and in English: event bonuses
    (the event's label), referral and birthday bonuses. Built once per process: a list of 50 old entries would
    otherwise switch languages twice per row."""
    from django.utils import translation

    from .models import EventRule

    labels: dict[str, tuple[str, dict[str, Any]]] = {}
    for language in ("pl", "en"):
        with translation.override(language):
            labels.update({str(label): (EVENT, {"event": code}) for code, label in EventRule.Event.choices})
            labels[gettext("Referral bonus")] = (REFERRAL, {})
            labels[gettext("Birthday bonus")] = (BIRTHDAY, {})
    return labels


_LEGACY_SHORT = re.compile(r"^(?P<reason>.*) \(limited to the balance: (?P<short>\d+) points already spent\)$")


def legacy_reason(text: str) -> tuple[str, dict[str, Any]]:
    """(code, parameters) of a sentence an older version wrote; (NOTE, {"text": text}) when it is not one."""
    limited = _LEGACY_SHORT.match(text)
    if limited:
        code, params = legacy_reason(limited["reason"])
        return code, {**params, "short": int(limited["short"])}
    for pattern, code in _LEGACY_PATTERNS:
        match = pattern.match(text)
        if match:
            return code, match.groupdict()
    known = _codes_by_label().get(text)
    if known:
        return known[0], dict(known[1])
    return NOTE, {"text": text}


def reason_text(*, code: str = "", params: Mapping[str, Any] | None = None, text: str = "") -> str:
    """The reason in the active language: from the code and its parameters, else from an older sentence."""
    params = dict(params or {})
    if not code:
        code, legacy = legacy_reason(text or "")
        params = {**legacy, **params}
    if code == NOTE and "text" not in params:
        params["text"] = text  # a note keeps what the person typed in `reason`
    renderer = RENDERERS.get(code)
    sentence = renderer(params) if renderer is not None else (text or code)
    short = params.get("short")
    if short:
        sentence = gettext("%(reason)s (limited to the balance: %(points)s points already spent)") % {
            "reason": sentence,
            "points": formats.number_format(int(short), force_grouping=True),
        }
    return sentence


def stored_reason(entry) -> Reason:
    """The Reason an entry stores (its code, else what its older sentence says): what an entry that follows it
    (the release of pending points) repeats."""
    code = getattr(entry, "reason_code", "") or ""
    if code == NOTE:
        return Reason(NOTE, {**(entry.reason_params or {}), "text": entry.reason})
    if code:
        return Reason(code, dict(entry.reason_params or {}))
    return Reason(*legacy_reason(entry.reason or ""))


def entry_reason(entry) -> str:
    """A ledger entry's reason (or a tier change's) for display; reads `reason_code`/`reason_params` when the
    model has them, else the stored sentence."""
    return reason_text(
        code=getattr(entry, "reason_code", "") or "",
        params=getattr(entry, "reason_params", None),
        text=entry.reason,
    )
