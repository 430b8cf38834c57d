"""The dashboard's figures by code: their labels and how each is shown. Snapshots store codes, never labels."""

from django.utils.translation import gettext_lazy as _

# code, label, kind (count, rate, money, points, number), scope ("store": follows the store filter)
FIGURES = [
    ("members_total", _("Members"), "count", "programme"),
    ("members_new", _("New members"), "count", "programme"),
    ("members_active", _("Active members"), "count", "store"),
    ("buyers", _("Members who bought"), "count", "store"),
    ("retention_rate", _("Retention"), "rate", "store"),
    ("churn_rate", _("Churn"), "rate", "store"),
    ("repeat_purchase_rate", _("Repeat-purchase rate"), "rate", "store"),
    ("purchase_frequency", _("Purchase frequency"), "number", "store"),
    ("orders", _("Purchases"), "count", "store"),
    ("average_order_value", _("Average order value"), "money", "store"),
    ("revenue", _("Revenue from members"), "money", "store"),
    ("historical_clv", _("Historical CLV per member"), "money", "store"),
    ("predicted_clv", _("Predicted CLV per buyer"), "money", "programme"),
    ("engagement_rate", _("Engagement rate"), "rate", "programme"),
    ("redemption_rate", _("Redemption rate"), "rate", "programme"),
    ("points_earned", _("Points earned"), "points", "programme"),
    ("points_redeemed", _("Points redeemed"), "points", "programme"),
    ("points_expired", _("Points expired"), "points", "programme"),
    ("breakage", _("Breakage (expired share)"), "rate", "programme"),
    ("points_outstanding", _("Points outstanding"), "points", "programme"),
    ("points_pending", _("Points pending"), "points", "programme"),
    ("points_liability", _("Points liability"), "money", "programme"),
    ("tier_moves_up", _("Tier upgrades"), "count", "programme"),
    ("tier_moves_down", _("Tier downgrades"), "count", "programme"),
    ("challenge_completion", _("Challenge completion"), "rate", "programme"),
]

LABELS = {code: label for code, label, _kind, _scope in FIGURES}
KINDS = {code: kind for code, _label, kind, _scope in FIGURES}

SEGMENT_ORDER = ["champions", "loyal", "promising", "new", "at_risk", "cant_lose", "hibernating", "lost"]
