"""Ledger entries in templates.

- `{% load ledger %}{{ entry|entry_reason }}` reads an entry's (or a tier change's) reason in the active language,
  from its code and parameters or from the sentence an older entry stored.
- `{% ledger_entry entry %}` draws one entry of the portal's lists (`rewards/partials/_ledger_entry.html`), kept
  drawn in this process: see `ledger_entry` below.
"""

import threading
from collections import OrderedDict

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

from rewards.reasons import entry_reason as _entry_reason

register = template.Library()

ENTRY_TEMPLATE = "rewards/partials/_ledger_entry.html"
# Entries kept drawn per process; about 1.5 kB each, so some 15 MB at most.
DRAWN_ENTRIES_KEPT = 10_000

_drawn: OrderedDict[tuple, SafeString] = OrderedDict()
_drawn_lock = threading.Lock()


@register.filter
def entry_reason(entry) -> str:
    return _entry_reason(entry) if entry is not None else ""


def _drawn_key(entry) -> tuple:
    """Everything an entry's HTML depends on. The ledger is append-only (an entry is never updated; a release or
    a correction is a new entry) and so are the purchase and the expired lot it shows, so the entry itself, the
    language and the day (the date reads "today" or "yesterday") are all. The entry's own fields in the key keep
    two databases' entries with one id apart (tests, a restored copy)."""
    lot = getattr(entry, "expired_lot", None)
    return (
        entry.pk,
        entry.member_id,
        entry.kind,
        entry.points,
        entry.created_at,
        lot.pk if lot is not None else None,
        get_language(),
        timezone.get_current_timezone_name(),
        timezone.localdate(),
    )


def forget_drawn_entries() -> None:
    with _drawn_lock:
        _drawn.clear()


@register.simple_tag(takes_context=True)
def ledger_entry(context: template.Context, entry) -> SafeString:
    """One entry of the history, the dashboard's latest activity or a purchase's points, as `<li>`.

    Drawing an entry is most of what a history page costs (reasons, rules, dates and numbers in the reader's
    language), and a member sees the same entries again on every visit of the dashboard and the history, so the
    HTML is kept per process (least recently used first out) under `_drawn_key`. The template gets only the
    entry, never the page's context, so what is kept cannot carry one member's or one request's data into
    another's. Not kept with DEBUG on, so that template edits show at once."""
    if settings.DEBUG:
        return _draw(context, entry)
    key = _drawn_key(entry)
    with _drawn_lock:
        html = _drawn.get(key)
        if html is not None:
            _drawn.move_to_end(key)
            return html
    html = _draw(context, entry)
    with _drawn_lock:
        _drawn[key] = html
        if len(_drawn) > DRAWN_ENTRIES_KEPT:
            _drawn.popitem(last=False)
    return html


def _draw(context: template.Context, entry) -> SafeString:
    entry_template = context.template.engine.get_template(ENTRY_TEMPLATE)
    return mark_safe(entry_template.render(template.Context({"entry": entry}, autoescape=context.autoescape)))  # noqa: S308
