"""Results of a campaign per variant and for the control group, and the uplift provider hook.

Campaigns cannot import analytics (it sits above); analytics registers its statistics here with
`register_uplift(function)`, where function(treated_n, treated_conversions, control_n, control_conversions)
returns {"uplift", "ci_low", "ci_high", "significant"}. Without one, the uplift shows as "—".
"""

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

from django.db.models import Count, DecimalField, Exists, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from members.models import ConsentEvent, Purchase

from .models import Campaign, Delivery

UpliftFunction = Callable[[int, int, int, int], dict]
_uplift: list[UpliftFunction] = []


def register_uplift(function: UpliftFunction) -> UpliftFunction:
    """Use `function` for the uplift against the control group (the last registered wins)."""
    _uplift.clear()
    _uplift.append(function)
    return function


def uplift_provider() -> UpliftFunction | None:
    return _uplift[0] if _uplift else None


def campaign_results(*, campaign: Campaign) -> dict:
    """Per variant (and "control"): members, sent, delivered, failed, skipped, opened, clicked, unsubscribed,
    buyers and revenue within the attribution window after the launch; the uplift of each variant over control."""
    rows: list[dict] = []
    if campaign.launched_at is None:
        return {"rows": rows, "has_control": False, "days": campaign.attribution_days}
    start = campaign.launched_at
    end = start + timedelta(days=campaign.attribution_days)
    window = Purchase.objects.filter(member=OuterRef("member"), purchased_at__gte=start, purchased_at__lt=end)
    revenue = Subquery(
        window.values("member").annotate(s=Sum("amount") - Sum("refunded_amount")).values("s")[:1],
        output_field=DecimalField(max_digits=14, decimal_places=2),
    )
    unsubscribed = ConsentEvent.objects.filter(
        member=OuterRef("member"), channel=campaign.channel, granted=False, created_at__gte=start, created_at__lt=end
    )
    deliveries = (
        Delivery.objects.filter(campaign=campaign)
        .annotate(
            bought=Exists(window),
            spent=Coalesce(revenue, Value(Decimal("0")), output_field=DecimalField(max_digits=14, decimal_places=2)),
            left=Exists(unsubscribed),
        )
        .values("variant__label")
        .annotate(
            members=Count("id"),
            sent=Count("id", filter=Q(status=Delivery.Status.SENT)),
            failed=Count("id", filter=Q(status=Delivery.Status.FAILED)),
            skipped=Count("id", filter=Q(status=Delivery.Status.SKIPPED)),
            control=Count("id", filter=Q(status=Delivery.Status.CONTROL)),
            opened=Count("id", filter=Q(opened_at__isnull=False)),
            clicked=Count("id", filter=Q(clicked_at__isnull=False)),
            unsubscribed=Count("id", filter=Q(left=True)),
            # Buyers among those who got the message (or were held out): skipped and failed ones are neither.
            buyers=Count("id", filter=Q(bought=True, status__in=[Delivery.Status.SENT, Delivery.Status.CONTROL])),
            revenue=Sum("spent", filter=Q(status__in=[Delivery.Status.SENT, Delivery.Status.CONTROL])),
        )
        .order_by("variant__label")
    )
    control = None
    for row in deliveries:
        row["label"] = row.pop("variant__label") or "control"
        # SMTP acceptance is what we know; bounces reported later would lower "delivered".
        row["delivered"] = row["sent"]
        row["revenue"] = row["revenue"] or Decimal("0")
        base = row["control"] if row["label"] == "control" else row["sent"]
        row["conversion"] = (row["buyers"] * 100 / base) if base else None
        if row["label"] == "control":
            control = row
        rows.append(row)
    provider = uplift_provider()
    for row in rows:
        row["uplift"] = None
        if control is not None and row is not control and provider is not None and row["sent"] and control["control"]:
            row["uplift"] = provider(row["sent"], row["buyers"], control["control"], control["buyers"])
    return {"rows": rows, "has_control": control is not None, "days": campaign.attribution_days}
