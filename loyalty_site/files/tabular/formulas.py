"""Cells a spreadsheet would run as formulas (OWASP "CSV Injection"): exports neutralise them with a leading
apostrophe (`neutralise`), imports drop the apostrophe again from a re-imported export (`starts_formula`)."""

# What spreadsheets read as the start of a formula (OWASP "CSV Injection"): = + - @, and tab and carriage
# return, which some spreadsheets skip before looking for one.
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
# Spreadsheets skip these before looking for a trigger, so " =1+1" and "\n=1+1" are formulas too.
FORMULA_LEADING_SPACE = " \t\r\n\xa0"


def neutralise(value):
    """A text cell a spreadsheet would run as a formula, made inert with a leading apostrophe. Anything
    that is not text (numbers, dates, booleans, empty cells) is returned as it is."""
    if isinstance(value, str) and starts_formula(value):
        return "'" + value
    return value


def starts_formula(text: str) -> bool:
    """Whether a spreadsheet could read the text as a formula: it starts with a trigger, also after spaces,
    tabs, line breaks or non-breaking spaces."""
    return text.startswith(FORMULA_TRIGGERS) or text.lstrip(FORMULA_LEADING_SPACE).startswith(FORMULA_TRIGGERS)
