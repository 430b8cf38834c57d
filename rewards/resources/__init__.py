"""Imports that move points: purchases (with optional line items), refunds and points adjustments.

Purchases are matched on (source, purchase id) and posted through `purchases_post_batch`, so the earning
rules apply and a re-uploaded file posts nothing twice. A purchase with line items is written as one row
per line with the purchase columns repeated; its rows must be consecutive. Or the lines come as a second
file (`PurchaseImport.lines_columns`), read whole before the purchases and joined to them by (source,
purchase id), so the earning rules see the same lines either way.
"""

from loyalty_site.files.importing import register
from members.services import MemberError

from ..services import PointsError
from .adjustments import AdjustmentImport
from .cells import KEY, LINE_COLUMNS, ROUND_CHUNK, WHOLE_NUMBER
from .matching import MemberMatcher
from .purchases import PurchaseImport
from .refunds import RefundImport

register(PurchaseImport())
register(RefundImport())
register(AdjustmentImport())

__all__ = [
    "KEY",
    "LINE_COLUMNS",
    "ROUND_CHUNK",
    "WHOLE_NUMBER",
    "AdjustmentImport",
    "MemberError",
    "MemberMatcher",
    "PointsError",
    "PurchaseImport",
    "RefundImport",
]
