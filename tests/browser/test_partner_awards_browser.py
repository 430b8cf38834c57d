"""In a real browser: a partner's co-branded points awarded from the partner's page (check, confirm, summary), and a
challenges file imported with a bad row shown by line and column."""

import re

import pytest
from django.contrib import admin

from members.services import member_create
from rewards.engagement.models import Badge, Challenge
from rewards.models import LedgerEntry, Partner, PointsAccount, ProgramSettings

from .conftest import DESKTOP, PHONE
from .staff import create_superuser, log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def staff(transactional_db, browser_settings, tmp_path):
    browser_settings.MEDIA_ROOT = tmp_path / "media"
    ProgramSettings.objects.update_or_create(pk=1, defaults={"pending_days": 0})
    return create_superuser()


@pytest.fixture
def awards_admin():
    """The partners' admin, which carries the awards mixin."""
    return admin.site._registry[Partner]


def assert_no_horizontal_overflow(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def test_staff_award_a_partners_points_to_a_list(new_page, staff, awards_admin, tmp_path, screenshot_dir):
    partner = Partner.objects.create(code="kino-helios", name="Kino Helios", email="partnerzy@helios.pl")
    people = [
        member_create(first_name="Zofia", last_name="Wójcik", email="zofia@example.pl", card_number="2900000000011"),
        member_create(first_name="Jan", last_name="Kowalski", email="jan@example.pl", card_number="2900000000028"),
        member_create(first_name="Ewa", last_name="Dąbrowska", email="ewa@example.pl"),
    ]
    path = tmp_path / "helios-luty.csv"
    path.write_text(
        "card_number;email;points\n2900000000011;;100\n;EWA@example.pl;250\n2900000000028;;50\n", encoding="utf-8"
    )

    page = new_page(DESKTOP)
    log_in(page, f"/admin/rewards/partner/{partner.pk}/change/")
    page.locator("a[href$='/award-points/']").click()
    page.wait_for_url("**/award-points/")
    page.screenshot(path=screenshot_dir / "partner-awards-form-desktop.png", full_page=True)
    page.locator("#id_promotion").fill("kino-luty-2026")
    page.locator("#id_reason").fill("Bilety kupione w lutym")
    page.locator("#id_file").set_input_files(path)
    page.locator("input[type=submit].default").click()

    page.locator("table.award-lines").wait_for()
    assert page.locator("table.award-lines tbody tr").count() == 3
    assert not LedgerEntry.objects.exists()
    assert_no_horizontal_overflow(page)
    page.screenshot(path=screenshot_dir / "partner-awards-preview-desktop.png", full_page=True)

    # A double click on the confirmation: the browser sends it twice; the points are posted once.
    page.locator("form input[name=confirm] ~ input[type=submit]").dblclick()
    page.locator("table.award-summary").wait_for()
    page.wait_for_load_state("networkidle")
    page.screenshot(path=screenshot_dir / "partner-awards-done-desktop.png", full_page=True)
    balances = dict(PointsAccount.objects.values_list("member_id", "balance"))
    assert [balances.get(m.pk) for m in people] == [100, 50, 250]
    assert LedgerEntry.objects.filter(reference="partner:kino-helios").count() == 3

    phone = new_page(PHONE, is_mobile=True, has_touch=True)
    log_in(phone, f"/admin/rewards/partner/{partner.pk}/award-points/")
    phone.locator("#id_promotion").fill("kino-luty-2026")
    phone.locator("#id_reason").fill("Bilety")
    phone.locator("#id_file").set_input_files(path)
    phone.locator("input[type=submit].default").click()
    phone.locator("table.award-lines").wait_for()
    assert phone.locator("table.award-lines tr.already").count() == 3
    phone.screenshot(path=screenshot_dir / "partner-awards-again-phone.png", full_page=True)


def test_a_challenges_file_with_a_bad_row_in_the_browser(new_page, staff, tmp_path, screenshot_dir):
    Badge.objects.create(code="kawosz", name="Kawosz")
    path = tmp_path / "wyzwania.csv"
    path.write_text(
        "code;name;kind;target;starts_at;ends_at;points;badge\n"
        "lato-3;Trzy zakupy latem;purchases;3;01.06.2026;31.08.2026;300;\n"
        "bez-nagrody;Bez nagrody;Zrób N zakupów;3;01.06.2026;31.08.2026;0;\n"
        "kawa;Kawa;purchases;3;01.06.2026;31.08.2026;;kawosz\n",
        encoding="utf-8",
    )
    page = new_page(DESKTOP)
    log_in(page, "/admin/files/importjob/upload/?kind=challenges")
    page.locator("#import-kind code", has_text="audience_ref").wait_for()
    assert_no_horizontal_overflow(page)
    page.screenshot(path=screenshot_dir / "challenges-import-upload-desktop.png", full_page=True)
    page.locator("#id_file").set_input_files(path)
    page.locator("input[type=submit].default").click()
    page.wait_for_url(re.compile(r"/importjob/\d+/change/$"))
    error_row = page.locator("#import-errors tbody tr")
    assert error_row.count() == 1
    assert error_row.locator("td").nth(0).inner_text() == "3"
    assert page.get_by_test_id("confirm-import").count() == 0
    assert not Challenge.objects.exists()
    page.screenshot(path=screenshot_dir / "challenges-import-preview-desktop.png", full_page=True)
