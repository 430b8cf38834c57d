"""Points where staff look, as panels on pages `members` owns (members.admin_panels): a purchase's page shows
the ledger entries it caused (the points, the rules applied, what its refunds reversed), a member's page the
points expiring by date and the tier history. Imported by rewards.admin (the package)."""

from collections import defaultdict

from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members import admin_panels

from ..models import LedgerEntry, PointsLot, TierChange
from ..reasons import entry_reason
from .ledger import _rule_kind

VIEW_LEDGER = "rewards.view_ledgerentry"
EXPIRY_DATES_SHOWN = 6
TIER_CHANGES_SHOWN = 10


def _entry_url(entry_id: int) -> str:
    return reverse("admin:rewards_ledgerentry_change", args=[entry_id])


def purchase_points_context(request, purchase) -> dict | None:
    """The purchase's ledger entries, oldest first, each with its reason in the reader's language and a link;
    the refunds, each with the reversal it caused."""
    if not request.user.has_perm(VIEW_LEDGER):
        return None
    entries = list(LedgerEntry.objects.filter(purchase=purchase).order_by("created_at", "id"))
    refunds = []
    # A refund's reversal has the key refund:<id> (its reference names the pending credit while it waits).
    by_key = {entry.idempotency_key: entry for entry in entries if entry.idempotency_key.startswith("refund:")}
    for refund in purchase.refunds.order_by("refunded_at", "id"):
        reversal = by_key.get(f"refund:{refund.pk}")
        refunds.append({"refund": refund, "reversal": reversal, "url": _entry_url(reversal.pk) if reversal else ""})
    earned = next((entry for entry in entries if entry.kind == LedgerEntry.Kind.EARN), None)
    return {
        "entries": [{"entry": entry, "reason": entry_reason(entry), "url": _entry_url(entry.pk)} for entry in entries],
        "earned": earned,
        "rules": _rules(earned.rules if earned is not None else []),
        "net": sum(entry.points for entry in entries if entry.kind != LedgerEntry.Kind.RELEASE),
        "refunds": refunds,
        "ledger_url": reverse("admin:rewards_ledgerentry_changelist") + f"?q={purchase.member.member_number}",
    }


def _rules(rules) -> list[tuple[str, str, object]]:
    """(kind, what, points) of each rule an earn entry applied: the admin's own wording of rule kinds."""
    if not isinstance(rules, list):
        return []
    return [
        (_rule_kind(rule.get("rule")), rule.get("name", ""), rule.get("points", ""))
        for rule in rules
        if isinstance(rule, dict)
    ]


def member_expiry_context(request, member) -> dict | None:
    """The member's next expiries: points by the date they expire, soonest first."""
    if not request.user.has_perm(VIEW_LEDGER):
        return None
    lots = PointsLot.objects.filter(member=member, remaining__gt=0, expires_at__isnull=False).order_by("expires_at")
    by_day: dict = defaultdict(int)
    for expires_at, remaining in lots.values_list("expires_at", "remaining"):
        by_day[timezone.localdate(expires_at)] += remaining
        if len(by_day) > EXPIRY_DATES_SHOWN:
            break
    days = sorted(by_day.items())[:EXPIRY_DATES_SHOWN]
    total = lots.aggregate(s=Sum("remaining"))["s"] or 0
    return {"days": days, "total": total, "more": len(by_day) > EXPIRY_DATES_SHOWN}


def member_tiers_context(request, member) -> dict | None:
    """The member's latest tier changes, each with its reason in the reader's language."""
    if not request.user.has_perm("rewards.view_tierchange"):
        return None
    changes = list(
        TierChange.objects.filter(member=member).select_related("from_tier", "to_tier")[: TIER_CHANGES_SHOWN + 1]
    )
    return {
        "changes": [{"change": change, "reason": entry_reason(change)} for change in changes[:TIER_CHANGES_SHOWN]],
        "more": len(changes) > TIER_CHANGES_SHOWN,
        "all_url": reverse("admin:rewards_tierchange_changelist") + f"?q={member.member_number}",
    }


admin_panels.purchase_panel(
    "points", _("Points for this purchase"), "admin/rewards/_purchase_points.html", purchase_points_context, order=10
)
admin_panels.panel(
    "expiring", _("Points expiring, by date"), "admin/rewards/_member_expiring.html", member_expiry_context, order=10
)
admin_panels.panel("tiers", _("Tier history"), "admin/rewards/_member_tiers.html", member_tiers_context, order=15)
