"""The points economy's models, one module per concept; every name is re-exported here, so
`from rewards.models import LedgerEntry` keeps working and migrations keep their references
(`rewards.models.new_config_version`, `rewards.models.validate_nip`).

- programme: ProgramSettings, Tier, EarningRule, EventRule (what the configuration says)
- ledger: PointsAccount, LedgerEntry, PointsLot, LedgerCheck, TierChange (what happened to points)
- partners: Partner and the NIP helpers
- catalog: Reward, Category
- redemptions: Redemption, Voucher, VoucherLookup and the voucher code helpers
"""

from .catalog import Category, Reward
from .ledger import LedgerCheck, LedgerEntry, PointsAccount, PointsLot, TierChange
from .partners import NIP_WEIGHTS, Partner, nip_is_valid, nip_normalise, validate_nip
from .programme import EarningRule, EventRule, ProgramSettings, Tier, new_config_version
from .redemptions import (
    VOUCHER_ALPHABET,
    VOUCHER_CODE_LENGTH,
    Redemption,
    Voucher,
    VoucherLookup,
    voucher_code_new,
    voucher_code_normalise,
)

__all__ = [
    "NIP_WEIGHTS",
    "VOUCHER_ALPHABET",
    "VOUCHER_CODE_LENGTH",
    "Category",
    "EarningRule",
    "EventRule",
    "LedgerCheck",
    "LedgerEntry",
    "Partner",
    "PointsAccount",
    "PointsLot",
    "ProgramSettings",
    "Redemption",
    "Reward",
    "Tier",
    "TierChange",
    "Voucher",
    "VoucherLookup",
    "new_config_version",
    "nip_is_valid",
    "nip_normalise",
    "validate_nip",
    "voucher_code_new",
    "voucher_code_normalise",
]
