"""The segment rule registry: every kind of condition a segment can use, each turning into a Q over Member.

Campaigns registers its own kinds here; apps above campaigns (analytics: "rfm_segment", "churn_risk") register
theirs from their AppConfig.ready(), so no import runs upward. A rule is evaluated in the database: `to_q`
returns a Q (joins or subqueries), never a list of members loaded into Python.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Count, Exists, Max, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class RuleError(ValueError):
    """A rule whose operator or value cannot be used; the message is for staff."""


@dataclass(frozen=True)
class RuleKind:
    code: str
    label: Any
    operators: tuple[str, ...]
    value_choices: Callable[[], list[tuple[str, str]]] | None
    to_q: Callable[[str, str], Q]


_kinds: dict[str, RuleKind] = {}

OPERATOR_LABELS = {
    "eq": _("is"),
    "ne": _("is not"),
    "gte": _("at least"),
    "lte": _("at most"),
    "between": _("between (a..b)"),
    "granted": _("granted"),
    "not_granted": _("not granted"),
    "completed": _("completed"),
    "not_completed": _("not completed"),
    "in_progress": _("started, not completed"),
}


def register(kind: RuleKind) -> RuleKind:
    """Add (or replace) a kind of rule."""
    _kinds[kind.code] = kind
    return kind


def kinds() -> list[RuleKind]:
    return list(_kinds.values())


def kind(code: str) -> RuleKind:
    try:
        return _kinds[code]
    except KeyError:
        raise RuleError(gettext("Unknown rule “%(code)s”.") % {"code": code}) from None


def rule_q(code: str, operator: str, value: str) -> Q:
    """The Q of one rule, checking the operator; errors are RuleError with a message for staff."""
    rule = kind(code)
    if operator not in rule.operators:
        raise RuleError(
            gettext("The rule “%(rule)s” cannot use the operator “%(operator)s”.")
            % {"rule": rule.label, "operator": OPERATOR_LABELS.get(operator, operator)}
        )
    return rule.to_q(operator, (value or "").strip())


# --- value parsing -------------------------------------------------------------------------------------------


def _number(value: str) -> Decimal:
    try:
        return Decimal(value.replace(",", ".").replace(" ", ""))
    except InvalidOperation:
        raise RuleError(gettext("“%(value)s” is not a number.") % {"value": value}) from None


def _int(value: str) -> int:
    number = _number(value)
    if number != number.to_integral_value():
        raise RuleError(gettext("“%(value)s” is not a whole number.") % {"value": value})
    return int(number)


def _range(value: str, parse: Callable[[str], Any]) -> tuple[Any, Any]:
    parts = [part.strip() for part in value.replace("..", ";").split(";")]
    if len(parts) != 2 or not all(parts):
        raise RuleError(gettext("Give a range as “from..to”, e.g. 18..30."))
    return parse(parts[0]), parse(parts[1])


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise RuleError(gettext("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": value}) from None


def compare_q(field: str, operator: str, value: str, parse: Callable[[str], Any] = _number) -> Q:
    """A numeric or date comparison of `field` (a column or an annotation-free lookup path)."""
    if operator == "between":
        low, high = _range(value, parse)
        return Q(**{f"{field}__gte": low, f"{field}__lte": high})
    parsed = parse(value)
    if operator == "eq":
        return Q(**{field: parsed})
    if operator == "ne":
        return ~Q(**{field: parsed})
    return Q(**{f"{field}__{operator}": parsed})


def _subquery_compare(subquery: Subquery, operator: str, value: str, parse=_number) -> Q:
    """Compare a correlated scalar subquery: expressed as pk__in over an annotated queryset."""
    from members.models import Member

    annotated = Member.objects.annotate(_v=subquery)
    return Q(pk__in=annotated.filter(compare_q("_v", operator, value, parse)).values("pk"))


NUMERIC = ("gte", "lte", "eq", "between")


# --- built-in kinds -----------------------------------------------------------------------------------------


def _tier_choices() -> list[tuple[str, str]]:
    from rewards.models import Tier

    return [(tier.code, tier.name) for tier in Tier.objects.order_by("rank")]


def _tier_q(operator: str, value: str) -> Q:
    q = Q(points_account__tier__code=value)
    return q if operator == "eq" else ~q


def _balance_q(operator: str, value: str) -> Q:
    from members.models import Member
    from rewards.models import PointsAccount

    balance = Coalesce(Subquery(PointsAccount.objects.filter(member=OuterRef("pk")).values("balance")[:1]), 0)
    return Q(pk__in=Member.objects.annotate(_v=balance).filter(compare_q("_v", operator, value, _int)).values("pk"))


def _spend_q(operator: str, value: str) -> Q:
    from members.models import Purchase

    total = Coalesce(
        Subquery(
            Purchase.objects.filter(member=OuterRef("pk"))
            .values("member")
            .annotate(s=Sum("amount") - Sum("refunded_amount"))
            .values("s")[:1]
        ),
        Decimal("0"),
    )
    return _subquery_compare(total, operator, value)


def _purchases_q(operator: str, value: str) -> Q:
    from members.models import Purchase

    count = Coalesce(
        Subquery(
            Purchase.objects.filter(member=OuterRef("pk")).values("member").annotate(n=Count("id")).values("n")[:1]
        ),
        0,
    )
    return _subquery_compare(count, operator, value, _int)


def _days_since_purchase_q(operator: str, value: str) -> Q:
    """Days since the last purchase; members who never bought count as "very long ago"."""
    from members.models import Purchase

    today = timezone.now()
    if operator == "between":
        low, high = _range(value, _int)
        return Q(
            pk__in=Purchase.objects.values("member")
            .annotate(last=Max("purchased_at"))
            .filter(last__lte=today - timedelta(days=low), last__gte=today - timedelta(days=high + 1))
            .values("member")
        )
    days = _int(value)
    recent = Purchase.objects.filter(member=OuterRef("pk"), purchased_at__gt=today - timedelta(days=days))
    if operator == "gte":  # no purchase in the last `days` days
        return ~Q(Exists(recent))
    return Q(Exists(recent))  # lte: bought within the last `days` days


def _category_q(operator: str, value: str) -> Q:
    from members.models import PurchaseLine

    bought = Exists(PurchaseLine.objects.filter(purchase__member=OuterRef("pk"), category=value))
    return Q(bought) if operator == "eq" else ~Q(bought)


def _category_choices() -> list[tuple[str, str]]:
    from members.models import PurchaseLine

    values = PurchaseLine.objects.exclude(category="").values_list("category", flat=True).distinct()
    return [(value, value) for value in sorted(values)[:200]]


def _city_q(operator: str, value: str) -> Q:
    q = Q(city__iexact=value)
    return q if operator == "eq" else ~q


def _age_q(operator: str, value: str) -> Q:
    today = timezone.localdate()

    def born_before(age: int) -> date:  # at least `age` years old
        try:
            return today.replace(year=today.year - age)
        except ValueError:  # 29 February
            return today.replace(year=today.year - age, day=28)

    if operator == "between":
        low, high = _range(value, _int)
        return Q(birth_date__lte=born_before(low), birth_date__gt=born_before(high + 1))
    age = _int(value)
    if operator == "gte":
        return Q(birth_date__lte=born_before(age))
    return Q(birth_date__gt=born_before(age + 1))


def _birthday_month_q(operator: str, value: str) -> Q:
    month = _int(value)
    if not 1 <= month <= 12:
        raise RuleError(gettext("A month is a number from 1 to 12."))
    q = Q(birth_date__month=month)
    return q if operator == "eq" else ~q & Q(birth_date__isnull=False)


def _joined_q(operator: str, value: str) -> Q:
    return compare_q("joined_at__date", operator, value, _date)


def _consent_q(operator: str, value: str) -> Q:
    from members.selectors import members_with_consent

    if value not in ("email", "sms"):
        raise RuleError(gettext("Choose the channel: email or sms."))
    q = Q(pk__in=members_with_consent(channel=value).values("pk"))
    return q if operator == "granted" else ~q


def _month_choices() -> list[tuple[str, str]]:
    return [(str(month), str(month)) for month in range(1, 13)]


register(RuleKind("tier", _("Tier"), ("eq", "ne"), _tier_choices, _tier_q))
register(RuleKind("balance", _("Points balance"), NUMERIC, None, _balance_q))
register(RuleKind("total_spend", _("Total spend (PLN)"), NUMERIC, None, _spend_q))
register(RuleKind("purchases", _("Number of purchases"), NUMERIC, None, _purchases_q))
register(
    RuleKind(
        "days_since_purchase", _("Days since last purchase"), ("gte", "lte", "between"), None, _days_since_purchase_q
    )
)
register(RuleKind("category", _("Bought from category"), ("eq", "ne"), _category_choices, _category_q))
register(RuleKind("city", _("City"), ("eq", "ne"), None, _city_q))
register(RuleKind("age", _("Age"), ("gte", "lte", "between"), None, _age_q))
register(RuleKind("birthday_month", _("Birthday month"), ("eq", "ne"), _month_choices, _birthday_month_q))
register(RuleKind("joined", _("Joined (date)"), ("gte", "lte", "between"), None, _joined_q))
register(
    RuleKind(
        "consent",
        _("Channel consent"),
        ("granted", "not_granted"),
        lambda: [("email", gettext("Email")), ("sms", gettext("SMS"))],
        _consent_q,
    )
)


# --- challenge progress (rewards.engagement) -----------------------------------------------------------------


def _challenge_choices() -> list[tuple[str, str]]:
    from rewards.engagement.models import Challenge

    return list(Challenge.objects.order_by("-starts_at", "code").values_list("code", "name"))


def _challenge_q(operator: str, value: str) -> Q:
    """Members who completed the challenge `value` (its code), did not, or started without completing it.

    "Started" is progress above zero; a challenge completed without progress rows (a profile challenge) counts
    as completed, never as started only."""
    from rewards.engagement.models import Challenge, ChallengeCompletion, ChallengeProgress

    if not Challenge.objects.filter(code=value).exists():
        raise RuleError(gettext("There is no challenge with the code “%(code)s”.") % {"code": value})
    completed = Exists(ChallengeCompletion.objects.filter(member=OuterRef("pk"), challenge__code=value))
    if operator == "completed":
        return Q(completed)
    if operator == "not_completed":
        return ~Q(completed)
    started = Exists(ChallengeProgress.objects.filter(member=OuterRef("pk"), challenge__code=value, value__gt=0))
    return Q(started) & ~Q(completed)


register(
    RuleKind(
        "challenge",
        _("Challenge progress"),
        ("completed", "not_completed", "in_progress"),
        _challenge_choices,
        _challenge_q,
    )
)
