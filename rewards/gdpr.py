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
