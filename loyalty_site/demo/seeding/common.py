"""What the demo's seeding steps share: logins, limits, the columns members are written with, small helpers."""

import inspect
from collections.abc import Callable, Iterator
from itertools import islice

STAFF_LOGIN = ("admin", "admin-demo-2026")


MEMBER_LOGIN = ("member", "member-demo-2026")


MEMBER_CHUNK = 5000


# Refunds and redemptions go one by one through rewards.services (about 25 queries each), so their number
# is capped: at the default size every planned one is posted; at benchmark sizes a sample of this many.
MAX_REFUNDS = 2000


MAX_REDEMPTIONS = 3000


DEMO_APPS = ("members", "rewards", "campaigns", "analytics")


MEMBER_COLUMNS = (
    "member_number",
    "referral_code",
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_date",
    "gender",
    "city",
    "postal_code",
    "preferred_language",
    "preferred_channel",
    "joined_at",
    "join_source",
    "status",
    "referred_by_id",
)


CONSENT_WORDING = {
    ("email", "marketing"): "Wyrażam zgodę na otrzymywanie e-mailem informacji handlowych i ofert programu "
    "lojalnościowego na podany adres.",
    ("sms", "marketing"): "Wyrażam zgodę na otrzymywanie SMS-em informacji handlowych i ofert programu "
    "lojalnościowego na podany numer telefonu.",
    ("email", "profiling"): "Wyrażam zgodę na analizę historii moich zakupów w celu dopasowania ofert "
    "wysyłanych e-mailem (profilowanie).",
    ("sms", "profiling"): "Wyrażam zgodę na analizę historii moich zakupów w celu dopasowania ofert "
    "wysyłanych SMS-em (profilowanie).",
    ("email", "partners"): "Wyrażam zgodę na przesyłanie e-mailem ofert partnerów programu lojalnościowego.",
    ("sms", "partners"): "Wyrażam zgodę na przesyłanie SMS-em ofert partnerów programu lojalnościowego.",
}


def _accepts(function: Callable, argument: str) -> bool:
    return argument in inspect.signature(function).parameters


def _chunks(iterable, size: int) -> Iterator[list]:
    iterator = iter(iterable)
    while chunk := list(islice(iterator, size)):
        yield chunk
