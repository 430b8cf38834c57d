"""Exports from the admin changelists: filtered rows, formula cells made inert, permissions, an audit record."""

import csv
import io
import logging
from decimal import Decimal

import openpyxl
import pytest
import tablib
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from loyalty_site.files.exports import EXPORT_FLAG, SafeCSV, SafeXLSX, neutralise
from members.models import Member
from members.services import member_update
from rewards.services import points_earn, points_redeem, purchase_post

MEMBER_EXPORT = "admin:members_member_export"
LEDGER_EXPORT = "admin:rewards_ledgerentry_export"


def export(client, url_name: str, query: str = "", file_format: str = "csv"):
    """Open the export page of a changelist (with its query string) and submit it as staff would."""
    url = reverse(url_name) + query
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["form"]
    formats = {title: value for value, title in form.fields["format"].choices if value != ""}
    data = {"format": formats[file_format], "resource": "0"}
    data.update({name: "on" for name, field in form.fields.items() if getattr(field, "is_selectable_field", False)})
    response = client.post(url, data)
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Disposition"].endswith(f'.{file_format}"')
    return response


def csv_rows(response) -> list[dict]:
    text = response.content.decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text, newline="")))


def xlsx_cells(response) -> list[dict]:
    """Each data row as {header: openpyxl cell}, so tests can check both value and type."""
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows())
    headers = [cell.value for cell in rows[0]]
    return [dict(zip(headers, row, strict=True)) for row in rows[1:]]


def exported_numbers(response, file_format: str, column: str = "member_number") -> set[str]:
    if file_format == "csv":
        return {row[column] for row in csv_rows(response)}
    return {cells[column].value for cells in xlsx_cells(response)}


# --- Rows: the changelist's filters and search -----------------------------------------------------


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_member_export_contains_the_rows_of_the_filtered_changelist(admin_client_, make_member, file_format):
    krakow = [make_member(city="Kraków"), make_member(city="Kraków")]
    make_member(city="Łódź")

    response = export(admin_client_, MEMBER_EXPORT, "?city=Krak%C3%B3w", file_format)

    assert exported_numbers(response, file_format) == {m.member_number for m in krakow}


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_member_export_follows_the_changelist_search(admin_client_, make_member, file_format):
    found = make_member(last_name="Nowakowska")
    make_member(last_name="Wiśniewska")

    response = export(admin_client_, MEMBER_EXPORT, "?q=Nowak", file_format)

    assert exported_numbers(response, file_format) == {found.member_number}


def test_member_export_has_the_whitelisted_columns_with_points(admin_client_, make_member, program, tiers):
    member = make_member(city="Gdańsk", postal_code="80-001")
    points_earn(member=member, points=120, reason="Zakup", idempotency_key="export-cols")

    (row,) = csv_rows(export(admin_client_, MEMBER_EXPORT))

    assert list(row) == [
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
        "status",
        "join_source",
        "joined_at",
        "tier",
        "balance",
        "pending",
    ]
    assert row["email"] == member.email
    assert row["balance"] == "120"
    assert "referral_code" not in row and member.referral_code not in row.values()


def test_ledger_export_follows_the_changelist_filter(admin_client_, make_member, program):
    first, second = make_member(), make_member()
    points_earn(member=first, points=10, reason="a", idempotency_key="ledger-filter-1")
    points_earn(member=second, points=20, reason="b", idempotency_key="ledger-filter-2")

    response = export(admin_client_, LEDGER_EXPORT, f"?q={first.member_number}")

    assert [(row["member_number"], row["points"]) for row in csv_rows(response)] == [(first.member_number, "10")]


def test_the_export_link_carries_the_changelist_filters(admin_client_, make_member):
    make_member(city="Kraków")

    page = admin_client_.get(reverse("admin:members_member_changelist") + "?city=Krak%C3%B3w&q=Jan")

    assert reverse(MEMBER_EXPORT) + "?city=Krak%C3%B3w&amp;q=Jan" in page.content.decode()


def test_member_export_runs_the_same_queries_for_many_members(admin_client_, make_member, program, tiers):
    def queries_for_export():
        with CaptureQueriesContext(connection) as queries:
            export(admin_client_, MEMBER_EXPORT, file_format="xlsx")
        return len(queries)

    for n in range(2):
        points_earn(member=make_member(), points=5, reason="x", idempotency_key=f"few-{n}")
    few = queries_for_export()
    for n in range(25):
        points_earn(member=make_member(), points=5, reason="x", idempotency_key=f"many-{n}")

    assert queries_for_export() == few


# --- Formula cells ---------------------------------------------------------------------------------

FORMULAS = {
    "last_name": '=HYPERLINK("http://x","y")',
    "city": "+48 1",
    "first_name": "-2+3",
    "postal_code": "@SUM(1)",
}


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_member_cells_that_start_a_formula_are_neutralised(admin_client_, make_member, file_format):
    make_member(**FORMULAS)

    response = export(admin_client_, MEMBER_EXPORT, file_format=file_format)

    if file_format == "csv":
        (row,) = csv_rows(response)
        for column, value in FORMULAS.items():
            assert row[column] == "'" + value
        assert row["phone"].startswith("'+48")  # text, not a number Excel would mangle
    else:
        (cells,) = xlsx_cells(response)
        for column, value in FORMULAS.items():
            assert cells[column].value == "'" + value
            assert cells[column].data_type == "s"


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_ledger_reasons_starting_with_tab_or_cr_are_neutralised_and_points_stay_numbers(
    admin_client_, member, program, file_format
):
    points_earn(member=member, points=100, reason="\tcmd", idempotency_key="tab")
    points_earn(member=member, points=30, reason="\r=cmd", idempotency_key="cr")
    points_redeem(member=member, points=50, reason="Nagroda", idempotency_key="redeem")

    response = export(admin_client_, LEDGER_EXPORT, file_format=file_format)

    if file_format == "csv":
        rows = {row["points"]: row for row in csv_rows(response)}
        assert set(rows) == {"100", "30", "-50"}
        assert rows["100"]["reason"] == "'\tcmd"
        assert rows["30"]["reason"] == "'\r=cmd"
        assert rows["-50"]["reason"] == "Nagroda"
    else:
        rows = {cells["points"].value: cells for cells in xlsx_cells(response)}
        assert set(rows) == {100, 30, -50}
        assert rows[-50]["points"].data_type == "n"
        assert rows[100]["reason"].value == "'\tcmd"
        # XML turns a carriage return into a newline on reading; what matters is the apostrophe first.
        assert rows[30]["reason"].value.startswith("'") and rows[30]["reason"].data_type == "s"


@pytest.mark.parametrize("file_format", [SafeCSV, SafeXLSX])
def test_the_formats_neutralise_text_from_any_resource_and_keep_numbers(file_format):
    dataset = tablib.Dataset(["=1+1", "@x", "-2", -50, None, "ok"], headers=["a", "b", "c", "d", "e", "f"])

    data = file_format().export_data(dataset)

    if file_format is SafeCSV:
        assert list(csv.reader(io.StringIO(data)))[1] == ["'=1+1", "'@x", "'-2", "-50", "", "ok"]
    else:
        row = [cell.value for cell in list(openpyxl.load_workbook(io.BytesIO(data)).active.iter_rows())[1]]
        assert row == ["'=1+1", "'@x", "'-2", -50, None, "ok"]


def test_no_formula_reaches_the_xlsx_file(admin_client_, make_member):
    make_member(**FORMULAS)

    (cells,) = xlsx_cells(export(admin_client_, MEMBER_EXPORT, file_format="xlsx"))

    assert all(cell.data_type != "f" for cell in cells.values())


@pytest.mark.parametrize("file_format", ["csv", "xlsx"])
def test_amounts_leave_as_plain_numbers_whatever_the_staff_language(admin_client_, member, program, file_format):
    purchase_post(member=member, source="pos", external_id="P-1", amount=Decimal("1234.50"))

    response = export(admin_client_, "admin:members_purchase_export", file_format=file_format)

    if file_format == "csv":
        (row,) = csv_rows(response)
        assert (row["amount"], row["refunded_amount"]) == ("1234.50", "0.00")
    else:
        (cells,) = xlsx_cells(response)
        assert cells["amount"].value == 1234.5 and cells["amount"].data_type == "n"


def test_control_characters_do_not_break_the_xlsx_file(admin_client_, make_member):
    make_member(first_name="Ala\x0bma")

    (cells,) = xlsx_cells(export(admin_client_, MEMBER_EXPORT, file_format="xlsx"))

    assert cells["first_name"].value == "Ala\ufffdma"


# --- Permissions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["Analyst", "Marketing"])
def test_roles_without_personal_data_get_403_on_member_export(role_client, member, role):
    client = role_client(role)

    assert client.get(reverse(MEMBER_EXPORT)).status_code == 403
    assert client.post(reverse(MEMBER_EXPORT), {"format": "0", "resource": "0"}).status_code == 403
    for url_name in ("admin:members_consentevent_export", "admin:members_memberchange_export"):
        assert client.get(reverse(url_name)).status_code == 403


def test_analyst_sees_no_export_link_on_members_but_keeps_the_other_tools(role_client, member):
    page = role_client("Analyst").get(reverse("admin:members_member_changelist"))

    assert page.status_code == 200
    assert page.context["has_export_permission"] is False
    assert reverse(MEMBER_EXPORT) not in page.content.decode()
    assert reverse("admin:members_member_duplicates") in page.content.decode()


def test_analyst_may_export_the_ledger(role_client, member, program):
    points_earn(member=member, points=10, reason="x", idempotency_key="analyst-ledger")
    client = role_client("Analyst")

    assert reverse(LEDGER_EXPORT) in client.get(reverse("admin:rewards_ledgerentry_changelist")).content.decode()
    assert len(csv_rows(export(client, LEDGER_EXPORT))) == 1


@pytest.mark.parametrize("role", ["Programme manager", "Support"])
def test_roles_with_personal_data_may_export_members(role_client, member, role):
    (row,) = csv_rows(export(role_client(role), MEMBER_EXPORT))

    assert row["email"] == member.email


def test_staff_without_view_permission_get_403_on_export(role_client, member):
    client = role_client(None)

    for url_name in (MEMBER_EXPORT, LEDGER_EXPORT, "admin:rewards_tier_export", "admin:members_purchase_export"):
        assert client.get(reverse(url_name)).status_code == 403


# --- The record of exports -------------------------------------------------------------------------


def test_every_export_is_logged_with_who_what_how_many_and_the_filters(admin_client_, make_member, caplog):
    make_member(city="Kraków")
    make_member(city="Kraków")
    make_member(city="Łódź")
    caplog.set_level(logging.INFO, logger="loyalty.exports")

    export(admin_client_, MEMBER_EXPORT, "?city=Krak%C3%B3w", "xlsx")

    (record,) = [r for r in caplog.records if r.name == "loyalty.exports"]
    assert record.export_model == "members.Member"
    assert record.export_rows == 2
    assert record.export_format == "XLSX"
    assert record.export_filters == "city=Krak%C3%B3w"
    assert record.export_personal_data is True
    assert "user=admin" in record.getMessage()


def test_personal_data_exports_leave_an_admin_log_entry(admin_client_, staff_user, member):
    member_update(member=member, actor=staff_user, changes={"city": "Poznań"})

    export(admin_client_, MEMBER_EXPORT)
    export(admin_client_, "admin:members_memberchange_export", file_format="xlsx")

    entries = LogEntry.objects.filter(action_flag=EXPORT_FLAG).order_by("id")
    assert [(e.user_id, e.content_type.model_class(), e.object_id) for e in entries] == [
        (staff_user.pk, Member, None),
        (staff_user.pk, member.changes.model, None),
    ]
    assert "Exported 1 rows as CSV" in entries[0].change_message


def test_exports_without_personal_data_are_only_logged(admin_client_, member, program, caplog):
    points_earn(member=member, points=10, reason="x", idempotency_key="log-only")
    caplog.set_level(logging.INFO, logger="loyalty.exports")

    export(admin_client_, LEDGER_EXPORT)

    assert [r.export_rows for r in caplog.records if r.name == "loyalty.exports"] == [1]
    assert not LogEntry.objects.filter(action_flag=EXPORT_FLAG).exists()


def test_the_export_form_names_each_column_as_staff_know_it_and_as_the_file_will(admin_client_):
    form = admin_client_.get(reverse("admin:members_member_export")).content.decode()
    assert "Numer członkowski (member_number)" in form
    assert "Kod pocztowy (postal_code)" in form
    assert "Member Number" not in form


@pytest.mark.parametrize(
    "value", [" =1+1", "\n=1+1", "\t@x", "\r\n-2+3", "\xa0+48", '  \t =HYPERLINK("http://x")', "\n\n@SUM(1)"]
)
def test_a_formula_after_leading_spaces_or_line_breaks_is_neutralised(value):
    dataset = tablib.Dataset([value, "  ok", "a=b"], headers=["a", "b", "c"])

    data = SafeCSV().export_data(dataset)

    assert neutralise(value) == "'" + value
    assert list(csv.reader(io.StringIO(data)))[1] == ["'" + value, "  ok", "a=b"]
