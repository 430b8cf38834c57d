"""A member's copy of their data (GDPR art. 15 and 20): sections that apps register, written as JSON or CSV.

members registers its own sections below; an app above it registers its data from a module imported by its
AppConfig.ready() (rewards/gdpr.py), so the export grows without members importing upward:

    register_section("ledger", lambda member: [{"date": ..., "points": ...}, ...])

A section's function returns plain rows (dicts of str, int, Decimal, date or datetime values). Small exports
are written in the request; from PORTAL_EXPORT_BACKGROUND_ROWS rows of purchases and ledger the portal makes a
`DataExport` and a Celery task writes the file (`data_export_task`).
"""

import csv
import io
import json
import zipfile
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal

from celery import shared_task
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from .models import ConsentEvent, DataExport, Member, MemberChange, Purchase, PurchaseLine

Section = Callable[[Member], list[dict]]

_sections: dict[str, Section] = {}


def register_section(name: str, function: Section) -> None:
    """Add (or replace) the export section `name`: `function(member)` returns its rows."""
    _sections[name] = function


def section_names() -> list[str]:
    return list(_sections)


def collect(member: Member) -> dict[str, list[dict]]:
    """Every section's rows for `member`, in the order the sections were registered."""
    return {name: function(member) for name, function in _sections.items()}


def _plain(value):
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if value is None:
        return ""
    return value


def as_json(data: dict[str, list[dict]]) -> bytes:
    plain = {name: [{key: _plain(value) for key, value in row.items()} for row in rows] for name, rows in data.items()}
    return json.dumps(plain, ensure_ascii=False, indent=2).encode()


def _neutral(value):
    # A spreadsheet runs a cell starting with = + - @ as a formula: exported text is never a formula.
    value = _plain(value)
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def as_csv_zip(data: dict[str, list[dict]]) -> bytes:
    """One CSV file per section in a ZIP archive (UTF-8 with BOM, which spreadsheets read as UTF-8)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in data.items():
            text = io.StringIO()
            columns = list(dict.fromkeys(key for row in rows for key in row))
            writer = csv.DictWriter(text, fieldnames=columns or ["empty"])
            writer.writeheader()
            for row in rows:
                writer.writerow({key: _neutral(value) for key, value in row.items()})
            archive.writestr(f"{name}.csv", "\ufeff" + text.getvalue())
    return buffer.getvalue()


def render(member: Member, export_format: str) -> tuple[bytes, str, str]:
    """The export's bytes, content type and file name."""
    data = collect(member)
    stamp = timezone.localdate().isoformat()
    if export_format == DataExport.Format.CSV:
        return as_csv_zip(data), "application/zip", f"my-data-{stamp}.zip"
    return as_json(data), "application/json", f"my-data-{stamp}.json"


def export_size(member: Member) -> int:
    """Rows of the biggest sections: what decides between writing now and in the background."""
    return Purchase.objects.filter(member=member).count()


def data_export_request(*, member: Member, export_format: str) -> DataExport:
    """A background export for `member`, sent to Celery when the transaction commits."""
    export = DataExport.objects.create(member=member, format=export_format)
    transaction.on_commit(lambda: data_export_task.delay(export.pk))
    return export


@shared_task(acks_late=True)
def data_export_task(export_id: int) -> None:
    """Write a requested export's file. Idempotent: a finished export is left as it is."""
    export = DataExport.objects.select_related("member").filter(pk=export_id).first()
    if export is None or export.status != DataExport.Status.PENDING:
        return
    try:
        content, _type, name = render(export.member, export.format)
    except Exception:
        DataExport.objects.filter(pk=export.pk).update(status=DataExport.Status.FAILED, finished_at=timezone.now())
        raise
    export.file.save(name, ContentFile(content), save=False)
    DataExport.objects.filter(pk=export.pk, status=DataExport.Status.PENDING).update(
        file=export.file.name, status=DataExport.Status.DONE, finished_at=timezone.now()
    )


# --- members' own sections --------------------------------------------------------------------------------------

PROFILE_FIELDS = (
    "member_number",
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_date",
    "gender",
    "city",
    "postal_code",
    "preferred_language",
    "preferred_channel",
    "joined_at",
    "join_source",
    "status",
    "referral_code",
    "email_verified_at",
)


def _profile(member: Member) -> list[dict]:
    row = {field: getattr(member, field) for field in PROFILE_FIELDS}
    row["cards"] = ", ".join(member.cards.order_by("issued_at").values_list("number", flat=True))
    return [row]


def _consents(member: Member) -> list[dict]:
    return [
        {
            "at": event.created_at,
            "channel": event.channel,
            "purpose": event.purpose,
            "granted": event.granted,
            "text_version": event.text.version if event.text else "",
            "text": event.text.text if event.text else "",
            "source": event.source,
        }
        for event in ConsentEvent.objects.filter(member=member).select_related("text").order_by("created_at", "id")
    ]


def _purchases(member: Member) -> list[dict]:
    return list(
        Purchase.objects.filter(member=member)
        .order_by("purchased_at", "id")
        .values("id", "source", "external_id", "store", "purchased_at", "amount", "refunded_amount")
    )


def _purchase_lines(member: Member) -> list[dict]:
    return list(
        PurchaseLine.objects.filter(purchase__member=member)
        .order_by("purchase__purchased_at", "purchase_id", "id")
        .values("purchase_id", "sku", "product_name", "category", "quantity", "amount")
    )


def _changes(member: Member) -> list[dict]:
    return list(
        MemberChange.objects.filter(member=member)
        .order_by("changed_at", "id")
        .values("changed_at", "field", "old_value", "new_value", "note")
    )


register_section("profile", _profile)
register_section("consents", _consents)
register_section("purchases", _purchases)
register_section("purchase_lines", _purchase_lines)
register_section("profile_changes", _changes)
