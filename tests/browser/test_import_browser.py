"""Staff import a members file in the admin in a real browser: upload, preview with an error, import the valid rows."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from loyalty_site.files.importing import import_job_create, import_preview
from members.models import ConsentText, Member

from .conftest import DESKTOP, PHONE
from .staff import create_superuser, log_in

pytestmark = pytest.mark.browser

HEADER = "member_number;first_name;last_name;email;phone;city;postal_code;consent_email_marketing"
ROWS = [
    "3100000001;Zofia;Wójcik;zofia.wojcik@example.pl;601 234 567;Łódź;90-001;tak",
    "3100000002;Jan;Kowalski;jan.kowalski@;602 345 678;Kraków;30-002;tak",  # line 3: the email is cut off
    "3100000003;Małgorzata;Żółkiewska;m.zolkiewska@example.pl;+48603456789;Gdańsk;80-003;nie",
    "3100000004;Paweł;Nowak;pawel.nowak@example.pl;604567890;Poznań;60-004;",
    "3100000005;Ewa;Dąbrowska;ewa.dabrowska@example.pl;605 678 901;Wrocław;50-005;tak",
]


@pytest.fixture
def staff(transactional_db, browser_settings, tmp_path):
    browser_settings.MEDIA_ROOT = tmp_path / "media"
    ConsentText.objects.create(channel="email", purpose="marketing", version="2026-01", text="Zgoda na e-maile")
    return create_superuser()


def members_file(tmp_path):
    path = tmp_path / "czlonkowie.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    return path


def count(page, action: str) -> str:
    return page.locator(f"#import-progress [data-action={action}] .import-count__number").inner_text()


def assert_no_horizontal_overflow(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def test_staff_upload_a_file_see_the_error_and_import_the_valid_rows(new_page, staff, tmp_path, screenshot_dir):
    page = new_page(DESKTOP)
    log_in(page, "/admin/files/importjob/")
    page.locator("a.addlink[href$='/importjob/upload/']").click()
    page.wait_for_url("**/importjob/upload/")
    assert page.locator("#import-kind code", has_text="consent_email_marketing").is_visible()
    assert page.locator("#id_consent_version").input_value() == "2026-01"
    page.screenshot(path=screenshot_dir / "import-upload-desktop.png", full_page=True)

    # Choosing another kind swaps in its columns (HTMX); a file without consent columns asks for no version.
    page.locator("#id_kind").select_option("purchases")
    page.locator("#import-kind code", has_text="purchase_id").wait_for()
    assert page.locator("#id_consent_version").count() == 0 and page.locator("#id_source").is_visible()
    page.locator("#id_kind").select_option("members")
    page.locator("#id_consent_version").wait_for()

    page.locator("#id_file").set_input_files(members_file(tmp_path))
    page.locator("input[type=submit].default").click()
    page.wait_for_url(re.compile(r"/importjob/\d+/change/$"))

    assert (count(page, "new"), count(page, "invalid")) == ("4", "1")
    error_row = page.locator("#import-errors tbody tr")
    assert error_row.count() == 1
    assert error_row.locator("td").nth(0).inner_text() == "3"
    assert error_row.locator("td").nth(2).inner_text() == "jan.kowalski@"
    assert error_row.locator("td").nth(3).inner_text() == "'jan.kowalski@' nie jest adresem e-mail"
    assert page.locator("#import-sample tbody tr").count() == 5
    assert page.get_by_test_id("confirm-import").count() == 0
    assert Member.objects.count() == 0
    page.screenshot(path=screenshot_dir / "import-preview-desktop.png", full_page=True)

    page.locator("#id_understood").check()
    page.get_by_test_id("import-valid-rows").click()
    page.locator("#import-progress[data-status=done]").wait_for()

    assert sorted(Member.objects.values_list("last_name", flat=True)) == [
        "Dąbrowska",
        "Nowak",
        "Wójcik",
        "Żółkiewska",
    ]
    assert count(page, "new") == "4"
    page.screenshot(path=screenshot_dir / "import-done-desktop.png", full_page=True)

    page.get_by_role("link", name="Wszystkie importy").click()
    assert page.locator("#result_list tbody tr").count() == 1
    assert "czlonkowie.csv" in page.locator("#result_list").inner_text()
    page.screenshot(path=screenshot_dir / "import-list-desktop.png", full_page=True)


def test_the_job_page_follows_a_background_check_and_fits_a_phone(new_page, staff, tmp_path, screenshot_dir):
    content = ("\n".join([HEADER, *ROWS]) + "\n").encode()
    job = import_job_create(
        kind="members",
        file=SimpleUploadedFile("czlonkowie.csv", content),
        name="czlonkowie.csv",
        user=staff,
        options={"consent_version": "2026-01"},
    )  # queued, as if waiting for the worker
    page = new_page(PHONE, is_mobile=True, has_touch=True)
    polls = []
    page.on("request", lambda request: polls.append(request) if request.headers.get("hx-request") else None)
    log_in(page, f"/admin/files/importjob/{job.pk}/change/")
    page.locator("#import-progress[data-status=queued]").wait_for()
    page.wait_for_function("document.querySelector('#import-progress').getAttribute('hx-trigger') === 'every 1s'")
    page.screenshot(path=screenshot_dir / "import-queued-phone.png", full_page=True)

    import_preview(job=job)  # the worker's part

    # The next poll sees the preview finished and reloads the page: the errors and the buttons appear.
    page.locator("#import-errors").wait_for()
    assert page.locator("#import-progress[data-status=previewed]").count() == 1
    assert polls and all(request.headers.get("x-csrftoken") for request in polls)
    assert (count(page, "new"), count(page, "invalid")) == ("4", "1")
    assert_no_horizontal_overflow(page)
    page.screenshot(path=screenshot_dir / "import-preview-phone.png", full_page=True)

    page.goto("/admin/files/importjob/upload/")
    assert_no_horizontal_overflow(page)
    page.screenshot(path=screenshot_dir / "import-upload-phone.png", full_page=True)
