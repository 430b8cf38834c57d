"""Deterministic Polish demo data for `manage.py demo_seed`: people, places, products and a purchase stream.

Pure Python, no database: the same seed and the same day give the same members and purchases. Dates are
relative to the day of the run so the demo always has fresh pending points and points about to expire.
"""

from .people import PeoplePlanner
from .plans import Buyer, PersonPlan, PlannedLine, PlannedPurchase, PlannedRefund
from .purchases import PurchasePlanner, showcase_weight
from .vocabulary import (
    CATEGORIES,
    CENT,
    CITIES,
    EMAIL_DOMAINS,
    FEMALE_FIRST_NAMES,
    MALE_FIRST_NAMES,
    MOBILE_PREFIXES,
    ONLINE,
    ONLINE_HOURS,
    REFERRAL_ALPHABET,
    STORE_HOURS,
    STORES,
    SURNAMES,
    ascii_fold,
    black_friday,
    season,
    surname_for,
)

__all__ = [
    "CATEGORIES",
    "CENT",
    "CITIES",
    "EMAIL_DOMAINS",
    "FEMALE_FIRST_NAMES",
    "MALE_FIRST_NAMES",
    "MOBILE_PREFIXES",
    "ONLINE",
    "ONLINE_HOURS",
    "REFERRAL_ALPHABET",
    "STORES",
    "STORE_HOURS",
    "SURNAMES",
    "Buyer",
    "PeoplePlanner",
    "PersonPlan",
    "PlannedLine",
    "PlannedPurchase",
    "PlannedRefund",
    "PurchasePlanner",
    "ascii_fold",
    "black_friday",
    "season",
    "showcase_weight",
    "surname_for",
]
