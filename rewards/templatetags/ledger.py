"""Ledger entries in templates: `{% load ledger %}{{ entry|entry_reason }}` reads an entry's (or a tier change's)
reason in the active language, from its code and parameters or from the sentence an older entry stored."""

from django import template

from rewards.reasons import entry_reason as _entry_reason

register = template.Library()


@register.filter
def entry_reason(entry) -> str:
    return _entry_reason(entry) if entry is not None else ""
