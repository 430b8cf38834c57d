"""What the points economy announces (loyalty_site.hooks): every posting path, one shape per event.

Events carry ids and values, never model instances, so a batch of 20,000 costs no extra queries and a
receiver that runs after commit reads fresh rows itself. Subscribe with `@receiver(PurchasePosted)` in an
app's receivers module, imported from its AppConfig.ready()."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class PurchasePosted:
    """A purchase recorded and its points posted (pending or available), once per purchase."""

    member_id: int
    purchase_id: int
    amount: Decimal
    purchased_at: datetime
    store: str
    source: str
    categories: tuple[str, ...]  # the categories of its lines, each once; () without lines
    points: int  # earned by the purchase (0 when nothing earns)
    # Whether the member joined through someone's link, when the path that posts has the member at hand (the
    # single post); None when it does not know (the batch): a receiver then looks it up.
    referred: bool | None = None


@dataclass(frozen=True, slots=True)
class PurchaseRefunded:
    """A refund recorded for a purchase and its points taken back, once per refund."""

    member_id: int
    purchase_id: int
    refund_id: int
    amount: Decimal
    points: int  # taken back (positive)


@dataclass(frozen=True, slots=True)
class PointsRedeemed:
    """Points spent, once per redemption entry."""

    member_id: int
    entry_id: int
    points: int  # spent (positive)
    reference: str


@dataclass(frozen=True, slots=True)
class TierChanged:
    """A member's tier moved (up or down), once per change; ids are None for "no tier"."""

    member_id: int
    from_tier_id: int | None
    to_tier_id: int | None
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class VoucherIssued:
    """A redemption issued a voucher (rewards.redemption.reward_redeem), once per voucher; announced after the
    stock was taken, so a sold-out refusal announces nothing. Campaigns sends the transactional "voucher issued"
    message from it (campaigns.receivers)."""

    member_id: int
    voucher_id: int
    redemption_id: int
    reward_id: int
    code: str
    expires_at: datetime
