"""Phone numbers as people write them, stored in E.164: the one normaliser of forms, imports and services."""

import re

from django.utils.translation import gettext

_SEPARATORS = re.compile(r"[\s\-().]")


def normalise_phone(text: str) -> str:
    """'601 234 567', '48601234567', '0048 601-234-567' and '+48 (601) 234 567' all become +48601234567.

    Raises ValueError with a message staff understand when `text` is no phone number (empty included); a
    caller that wants "" for that (a search box) catches it."""
    digits = _SEPARATORS.sub("", text or "")
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if re.fullmatch(r"[0-9]{9}", digits):
        digits = "+48" + digits  # a Polish national number
    elif re.fullmatch(r"48[0-9]{9}", digits):
        digits = "+" + digits  # the Polish country code without its '+'
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", digits):
        raise ValueError(
            gettext("'%(value)s' is not a phone number (e.g. +48601234567 or 601 234 567)") % {"value": text}
        )
    return digits
