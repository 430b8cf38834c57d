"""The reward export: the import's columns, following the list's filter, and importing back unchanged."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from loyalty_site.files.importing import import_apply
from loyalty_site.files.models import ImportRowError
from rewards.models import Partner, Reward

from .support import errors_of, export_csv, make_reward, run_import


def test_the_reward_export_has_the_import_columns_and_follows_the_filter(admin_client_, partner, tiers):
    make_reward(partner=partner, min_tier=tiers[1], cash_value=Decimal("58.00"), stock=200)
    make_reward("kubek", name="=Kubek", kind=Reward.Kind.PRODUCT, points_cost=300)

    rows = export_csv(admin_client_, "admin:rewards_reward_export", "?kind__exact=voucher")

    assert len(rows) == 1
    row = rows[0]
    assert list(row)[:9] == [
        "code",
        "name",
        "kind",
        "category",
        "points_cost",
        "cash_value",
        "partner",
        "min_tier",
        "stock",
    ]
    assert (row["code"], row["kind"], row["partner"], row["min_tier"], row["cash_value"], row["stock"]) == (
        "kino-2-bilety",
        "voucher",
        "kino-helios",
        "silver",
        "58.00",
        "200",
    )
    (mug,) = export_csv(admin_client_, "admin:rewards_reward_export", "?kind__exact=product")
    assert mug["name"] == "'=Kubek"  # a spreadsheet will not run it


def test_an_exported_catalog_imports_back_unchanged(admin_client_, staff_user, partner, tiers):
    now = timezone.now().replace(microsecond=0)
    make_reward(partner=partner, min_tier=tiers[2], cash_value=Decimal("58.00"), stock=3, per_member_limit=1)
    make_reward("okres", name="Okres", available_from=now, available_until=now + timedelta(days=30), is_active=False)

    for kind, url_name in (("partners", "admin:rewards_partner_export"), ("rewards", "admin:rewards_reward_export")):
        rows = export_csv(admin_client_, url_name)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
        job = run_import(kind, buffer.getvalue().encode(), staff_user)
        assert job.counts == {"skip": len(rows)}, errors_of(job)


def test_reward_numbers_and_dates_the_database_cannot_hold_are_row_errors(staff_user):
    content = (
        "code;name;kind;points_cost;cash_value;stock;available_until\n"
        "big;Duża;voucher;99999999999;1;;\n"
        "cash;Drogie;voucher;10;123456789012,00;;\n"
        "old;Stara;voucher;10;;;0001-01-01\n"
        "late;Późna;voucher;10;;-1;31.12.9999 23:59\n"
        "ok;Dobra;voucher;10;5,00;3;31.12.2030\n"
    ).encode()
    previewed = run_import("rewards", content, staff_user, only_valid_rows=True)

    errors = list(ImportRowError.objects.filter(job=previewed).values_list("line", "column"))
    assert errors == [
        (2, "points_cost"),
        (3, "cash_value"),
        (4, "available_until"),
        (5, "stock"),
        (5, "available_until"),
    ]
    assert previewed.counts == {"new": 1, "invalid": 4}
    assert import_apply(job=previewed).status == "done"
    assert list(Reward.objects.values_list("code", flat=True)) == ["ok"]


def test_a_partner_email_longer_than_the_column_is_a_row_error(staff_user):
    email = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".pl"
    content = f"code;name;email\nlong;Kino;{email}\n".encode()
    previewed = run_import("partners", content, staff_user, only_valid_rows=True)

    error = ImportRowError.objects.get(job=previewed)
    assert (error.line, error.column) == (2, "email")
    assert import_apply(job=previewed).status == "done"
    assert not Partner.objects.exists()
