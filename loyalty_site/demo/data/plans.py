"""What the planners produce: people, buyers, purchases with their lines and refunds (plain data)."""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal


@dataclass(slots=True)
class PersonPlan:
    """One member to create, and how they will buy."""

    index: int
    member_number: str
    referral_code: str
    card_number: str
    first_name: str
    last_name: str
    gender: str
    email: str
    phone: str
    birth_date: date | None
    city: str
    postal_code: str
    joined_at: datetime
    join_source: str
    preferred_channel: str
    referrer_index: int | None
    # (channel, purpose, granted, at, source): the consent events to record, oldest first.
    consents: list[tuple[str, str, bool, datetime, str]]
    weight: float
    active_from: date
    active_until: date
    home_store: str
    online_share: float
    lapsed: bool

    @property
    def profile_complete(self) -> bool:
        return all([self.email, self.phone, self.birth_date, self.city, self.postal_code])


@dataclass(frozen=True, slots=True)
class Buyer:
    """What the purchase stream needs of a member once they are in the database."""

    member_id: int
    weight: float
    active_from: date
    active_until: date
    home_store: str
    online_share: float


@dataclass(frozen=True, slots=True)
class PlannedLine:
    sku: str
    product_name: str
    category: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PlannedRefund:
    external_id: str
    amount: Decimal
    at: datetime


@dataclass(frozen=True, slots=True)
class PlannedPurchase:
    member_id: int
    source: str
    external_id: str
    store: str
    purchased_at: datetime
    amount: Decimal
    lines: tuple[PlannedLine, ...]
    refund: PlannedRefund | None
