"""Analytics in campaigns: segment rules "rfm_segment" and "churn_risk", and the uplift function.

campaigns defines the registries (`campaigns.rules.register(RuleKind(...))`,
`campaigns.results.register_uplift(function)`); analytics fills them so campaigns never imports analytics.
Without those registries (campaigns not built yet) this module registers nothing.
"""

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from analytics.models import MemberScore, Segment
from analytics.uplift import uplift

try:
    from campaigns import rules
except ImportError:
    rules = None

try:
    from campaigns import results
except ImportError:
    results = None

SEGMENT_OPERATORS = ("eq", "ne")
RISK_OPERATORS = ("gte", "lte")


def latest_month():
    return MemberScore.objects.order_by("-month").values_list("month", flat=True).first()


def _scored(**filters) -> Q:
    """Members whose latest month's score matches the filters (nobody when nothing was computed yet)."""
    month = latest_month()
    if month is None:
        return Q(pk__in=[])
    return Q(pk__in=MemberScore.objects.filter(month=month, **filters).values("member_id"))


def segment_choices() -> list[tuple[str, str]]:
    return [(value, str(label)) for value, label in Segment.choices]


def rfm_segment_q(operator: str, value: str) -> Q:
    if value not in Segment.values:
        raise ValueError(f"unknown RFM segment {value!r}")
    if operator == "eq":
        return _scored(segment=value)
    if operator == "ne":
        return ~_scored(segment=value)
    raise ValueError(f"unknown operator {operator!r}")


def churn_risk_q(operator: str, value: str) -> Q:
    """`value` is a percentage 0-100: "gte 70" is members whose churn risk is at least 70%."""
    try:
        threshold = float(str(value).replace(",", ".")) / 100
    except ValueError as error:
        raise ValueError(f"churn risk must be a percentage, got {value!r}") from error
    if not 0 <= threshold <= 1:
        raise ValueError("churn risk must be between 0 and 100")
    if operator == "gte":
        return _scored(churn_risk__gte=threshold)
    if operator == "lte":
        return _scored(churn_risk__lte=threshold)
    raise ValueError(f"unknown operator {operator!r}")


def register() -> bool:
    """Register the rule kinds and the uplift function where campaigns offers registries; True if it did."""
    done = False
    if rules is not None:
        rules.register(
            rules.RuleKind(
                code="rfm_segment",
                label=_("RFM segment"),
                operators=SEGMENT_OPERATORS,
                value_choices=segment_choices,
                to_q=rfm_segment_q,
            )
        )
        rules.register(
            rules.RuleKind(
                code="churn_risk",
                label=_("Churn risk (%)"),
                operators=RISK_OPERATORS,
                value_choices=None,
                to_q=churn_risk_q,
            )
        )
        done = True
    if results is not None and hasattr(results, "register_uplift"):
        results.register_uplift(uplift)
        done = True
    return done


register()
