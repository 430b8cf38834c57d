"""What rewards adds to a member's copy of their data (members.data_export): the ledger and each purchase's points."""

from django.db.models import Sum

from members.data_export import register_section
from members.models import Member

from .models import LedgerEntry
from .reasons import entry_reason


def ledger_rows(member: Member) -> list[dict]:
    return [
        {
            "at": entry.created_at,
            "kind": entry.kind,
            "bucket": entry.bucket,
            "points": entry.points,
            "reason": entry_reason(entry),
            "purchase_id": entry.purchase_id or "",
            "rules": "; ".join(f"{rule.get('name') or rule.get('rule')}: {rule.get('points')}" for rule in entry.rules),
        }
        for entry in LedgerEntry.objects.filter(member=member).order_by("created_at", "id")
    ]


def purchase_points_rows(member: Member) -> list[dict]:
    """Per purchase, the points it earned and lost (earned, reversed by refunds), as the ledger records them."""
    rows = (
        LedgerEntry.objects.filter(member=member, purchase__isnull=False, kind__in=["earn", "reverse"])
        .values("purchase_id", "purchase__external_id", "kind")
        .annotate(points=Sum("points"))
        .order_by("purchase_id", "kind")
    )
    return [
        {
            "purchase_id": row["purchase_id"],
            "receipt": row["purchase__external_id"],
            "kind": row["kind"],
            "points": row["points"],
        }
        for row in rows
    ]


register_section("ledger", ledger_rows)
register_section("purchase_points", purchase_points_rows)


def redemption_rows(member: Member) -> list[dict]:
    """Every reward the member redeemed, with the voucher it issued and whether the points came back."""
    from .models import Redemption

    return [
        {
            "redeemed_at": redemption.created_at,
            "reward_code": redemption.reward.code,
            "reward": redemption.reward.name,
            "partner": redemption.partner.name if redemption.partner_id else "",
            "points": redemption.points,
            "value_pln": redemption.cash_value,
            "points_returned": redemption.restore_entry_id is not None,
        }
        for redemption in Redemption.objects.filter(member=member)
        .select_related("reward", "partner")
        .order_by("created_at", "id")
    ]


def voucher_rows(member: Member) -> list[dict]:
    from .models import Voucher

    return [
        {
            "code": voucher.code,
            "reward_code": voucher.reward.code,
            "reward": voucher.reward.name,
            "status": voucher.status,
            "issued_at": voucher.issued_at,
            "valid_until": voucher.expires_at,
            "used_at": voucher.used_at,
            "closed_at": voucher.closed_at,
        }
        for voucher in Voucher.objects.filter(member=member).select_related("reward").order_by("issued_at", "id")
    ]


register_section("redemptions", redemption_rows)
register_section("vouchers", voucher_rows)
