"""Staff admin for the points economy, one module per concept; importing the package registers them all.

- members: the member admin with points (ledger inline, balance, "Adjust points", merging duplicates);
  `members` may not import `rewards`, so it replaces the member admin `members.admin` registered
- points: the panels it adds to the member and purchase pages (rules applied, expiring points, tiers)
- programme: settings, tiers, earning rules, event rules
- ledger: what only the services write, view-only: ledger entries, accounts, tier changes, ledger checks
- partners: PartnerAdmin and its form
- catalog: RewardAdmin, its form and filters
- redemptions: categories, redemptions, vouchers, the till, the look-up log and the partners' settlement
"""

from . import catalog, ledger, members, partners, points, programme, redemptions  # noqa: F401  (registers)
from .catalog import RewardAdmin
from .ledger import LedgerCheckAdmin, LedgerEntryAdmin, PointsAccountAdmin, TierChangeAdmin, rules_summary
from .members import ADJUST_PERMISSION, MAX_MEMBERS_PER_ADJUSTMENT, LedgerEntryInline, MemberAdmin
from .partners import PartnerAdmin, PartnerAdminForm
from .programme import EarningRuleAdmin, EventRuleAdmin, ProgramSettingsAdmin, TierAdmin

__all__ = [
    "ADJUST_PERMISSION",
    "MAX_MEMBERS_PER_ADJUSTMENT",
    "EarningRuleAdmin",
    "EventRuleAdmin",
    "LedgerCheckAdmin",
    "LedgerEntryAdmin",
    "LedgerEntryInline",
    "MemberAdmin",
    "PartnerAdmin",
    "PartnerAdminForm",
    "PointsAccountAdmin",
    "ProgramSettingsAdmin",
    "RewardAdmin",
    "TierAdmin",
    "TierChangeAdmin",
    "rules_summary",
]
