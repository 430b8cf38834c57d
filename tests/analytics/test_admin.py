"""The dashboard in the admin: from the snapshot, permission-guarded, exportable, refreshable; the member panel."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.urls import reverse
from openpyxl import load_workbook

from analytics.models import DashboardSnapshot
from analytics.services import analytics_refresh, default_period, member_scores_store

DASHBOARD = "admin:analytics_dashboardsnapshot_changelist"


@pytest.mark.django_db
def test_dashboard_without_a_snapshot_offers_to_compute(admin_client, program):
    page = admin_client.get(reverse(DASHBOARD))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Compute these figures" in html or "Oblicz" in html
    assert "<script>" not in html and 'style="' not in html


@pytest.mark.django_db
def test_dashboard_from_a_snapshot_shows_figures_charts_and_when(admin_client, history, django_assert_max_num_queries):
    analytics_refresh()
    with django_assert_max_num_queries(12):
        page = admin_client.get(reverse(DASHBOARD))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="analytics-chart-data"' in html and "chart.umd.min.js" in html and "dashboard.js" in html
    assert 'id="chart-trend"' in html and "analytics-heatmap" in html
    assert "165,00" in html or "165.00" in html
    # No inline script or style (CSP): the data travels in a json_script block.
    assert html.count("<script>") == 0 and 'style="' not in html


@pytest.mark.django_db
def test_staff_without_the_permission_cannot_see_the_dashboard(client, program):
    user = get_user_model().objects.create_user(username="support", password="secret-pass-1", is_staff=True)
    user.groups.add(Group.objects.get(name="Support"))
    client.force_login(user)
    assert client.get(reverse(DASHBOARD)).status_code == 403
    assert client.get(reverse("admin:analytics_dashboard_export", args=["figures", "csv"])).status_code == 403


@pytest.mark.django_db
def test_analyst_role_sees_the_dashboard(client, program):
    user = get_user_model().objects.create_user(username="analyst", password="secret-pass-1", is_staff=True)
    user.groups.add(Group.objects.get(name="Analyst"))
    client.force_login(user)
    assert client.get(reverse(DASHBOARD)).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["figures", "trend", "segments", "movement", "churn_risk", "tiers", "cohorts"])
def test_every_table_exports_to_csv_and_xlsx(admin_client, history, name):
    analytics_refresh()
    csv_response = admin_client.get(reverse("admin:analytics_dashboard_export", args=[name, "csv"]))
    assert csv_response.status_code == 200
    assert csv_response["Content-Type"].startswith("text/csv")
    assert csv_response.content.decode().splitlines()[0]
    xlsx = admin_client.get(reverse("admin:analytics_dashboard_export", args=[name, "xlsx"]))
    assert xlsx.status_code == 200
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.max_row >= 1


@pytest.mark.django_db
def test_figures_export_holds_the_values(admin_client, history):
    analytics_refresh()
    text = admin_client.get(reverse("admin:analytics_dashboard_export", args=["figures", "csv"])).content.decode()
    assert "165.00" in text and "300.00" in text


@pytest.mark.django_db
def test_export_of_an_unknown_table_or_missing_snapshot_is_404(admin_client, program):
    assert admin_client.get(reverse("admin:analytics_dashboard_export", args=["nope", "csv"])).status_code == 404
    assert admin_client.get(reverse("admin:analytics_dashboard_export", args=["figures", "csv"])).status_code == 404


@pytest.mark.django_db
def test_refresh_enqueues_the_task_which_stores_the_snapshot(
    admin_client, history, eager_celery, django_capture_on_commit_callbacks
):
    period = default_period()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = admin_client.post(
            reverse("admin:analytics_dashboard_refresh"),
            {"date_from": period.start.isoformat(), "date_to": period.end.isoformat(), "store": ""},
        )
    assert len(callbacks) == 1
    assert response.status_code == 302
    assert DashboardSnapshot.objects.filter(date_from=period.start, date_to=period.end, store="").exists()


@pytest.mark.django_db
def test_refresh_refuses_a_reversed_range_and_get(admin_client, program):
    response = admin_client.post(
        reverse("admin:analytics_dashboard_refresh"), {"date_from": "2026-03-10", "date_to": "2026-03-01"}
    )
    assert response.status_code == 302 and not DashboardSnapshot.objects.exists()
    assert admin_client.get(reverse("admin:analytics_dashboard_refresh")).status_code == 405


@pytest.mark.django_db
def test_member_page_shows_the_rfm_segment_and_churn_risk(admin_client, history):
    member_scores_store(as_of=default_period().end)
    page = admin_client.get(reverse("admin:members_member_change", args=[history["a"].pk]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="member-panel-rfm"' in html and "R " in html
    none = admin_client.get(reverse("admin:members_member_change", args=[history["d"].pk])).content.decode()
    assert 'id="member-panel-rfm"' in none


@pytest.mark.django_db
def test_a_bad_range_is_explained_and_the_default_range_shown(admin_client, program):
    page = admin_client.get(reverse(DASHBOARD), {"date_from": "2026-03-10", "date_to": "2026-03-01"})
    assert page.status_code == 200
    assert "The end of the range comes before its start." in page.content.decode() or "Koniec zakresu" in (
        page.content.decode()
    )
    assert admin_client.get(reverse(DASHBOARD), {"date_from": "not a date"}).status_code == 200
