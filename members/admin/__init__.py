"""Staff admin for members: profiles (edits go through the audited service), consent, purchases, duplicates.

Personal data (email, phone, birth date) is shown only to staff with `members.view_member_personal_data`;
everyone else sees masked values. The points side of a member (ledger, balance, adjustments, merging)
is added by `rewards.admin`, which registers a subclass of `MemberAdmin`: members does not import rewards.
"""

from .accounts import AccountTokenAdmin, DataExportAdmin
from .common import (
    MASKERS,
    MERGE_PERMISSION,
    PERSONAL_DATA_PERMISSION,
    PERSONAL_FIELDS,
    LatestInline,
    LatestInlineFormSet,
    ReadOnlyTabularInline,
    ViewOnlyAdminMixin,
    can_see_personal_data,
    mask_fields,
    masked_change_value,
)
from .consents import ConsentEventAdmin, ConsentTextAdmin
from .member import (
    ConsentEventInline,
    LoyaltyCardInline,
    MarketingConsentListFilter,
    MemberAdmin,
    MemberChangeInline,
    PurchaseInline,
    TopCityListFilter,
)
from .records import MemberChangeAdmin, PurchaseAdmin, PurchaseLineInline, RefundAdmin, RefundInline

__all__ = [
    "MASKERS",
    "MERGE_PERMISSION",
    "PERSONAL_DATA_PERMISSION",
    "PERSONAL_FIELDS",
    "AccountTokenAdmin",
    "ConsentEventAdmin",
    "ConsentEventInline",
    "ConsentTextAdmin",
    "DataExportAdmin",
    "LatestInline",
    "LatestInlineFormSet",
    "LoyaltyCardInline",
    "MarketingConsentListFilter",
    "MemberAdmin",
    "MemberChangeAdmin",
    "MemberChangeInline",
    "PurchaseAdmin",
    "PurchaseInline",
    "PurchaseLineInline",
    "ReadOnlyTabularInline",
    "RefundAdmin",
    "RefundInline",
    "TopCityListFilter",
    "ViewOnlyAdminMixin",
    "can_see_personal_data",
    "mask_fields",
    "masked_change_value",
]
