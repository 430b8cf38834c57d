"""The reward catalog, its imports and a background export, used by a superuser in a real browser."""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from loyalty_site.files.models import ExportJob
from loyalty_site.files.tasks import export_job_task
from rewards.models import Partner, Reward

from .conftest import DESKTOP, PHONE
from .staff import create_superuser, log_in

pytestmark = pytest.mark.browser

PARTNERS_CSV = """code;name;legal_name;nip;email;phone;website;description;is_active
kino-helios;Kino Helios;Helios S.A.;123-456-32-18;partnerzy@helios.pl;22 123 45 67;www.helios.pl;Sieć kin;tak
ksiegarnia-czytam;Księgarnia Czytam;Czytam sp. z o.o.;;kontakt@czytam.pl;;;Książki i audiobooki;tak
"""
REWARDS_CSV = """code;name;kind;category;points_cost;cash_value;partner;stock;available_from;available_until
kino-2-bilety;Dwa bilety do kina;voucher;Kino i teatr;1500;58,00;kino-helios;200;01.01.2026;31.12.2030
bon-ksiazki-50;Bon na książki 50 zł;bon;Książki;1200;50,00;ksiegarnia-czytam;;;
dostawa-gratis;Darmowa dostawa;free_delivery;;300;;;;;
"""


@pytest.fixture
def superuser(transactional_db, browser_settings, tmp_path):
    browser_settings.MEDIA_ROOT = tmp_path / "media"
    return create_superuser()


def assert_no_horizontal_overflow(page):
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the page scrolls sideways by {overflow}px"


def result_names(page) -> list[str]:
    """The names in a changelist's first column (a reward's code is on the line below its name)."""
    return [text.splitlines()[0] for text in page.locator("#result_list tbody th a").all_inner_texts()]


def assert_every_column_visible(page):
    """The list fits beside the menu and the filters: no column hides behind the table's own scroll bar."""
    hidden = page.evaluate(
        "(() => { const box = document.querySelector('#changelist .results'); "
        "return box.scrollWidth - box.clientWidth; })()"
    )
    assert hidden <= 0, f"{hidden}px of the list's columns are out of sight"


def make_catalog() -> None:
    """Four rewards from two partners: two offered now, one ended, one out of stock."""
    now = timezone.now()
    helios = Partner.objects.create(code="kino-helios", name="Kino Helios", email="partnerzy@helios.pl")
    czytam = Partner.objects.create(code="ksiegarnia-czytam", name="Księgarnia Czytam", email="kontakt@czytam.pl")
    Reward.objects.create(
        code="kino-2-bilety", name="Dwa bilety do kina", kind="voucher", points_cost=1500, partner=helios, stock=200
    )
    Reward.objects.create(
        code="kino-popcorn",
        name="Popcorn i napój",
        kind="product",
        points_cost=400,
        partner=helios,
        available_from=now - timedelta(days=60),
        available_until=now - timedelta(days=1),
    )
    Reward.objects.create(
        code="bon-ksiazki-50",
        name="Bon na książki 50 zł",
        kind="voucher",
        category="Książki",
        points_cost=1200,
        cash_value=Decimal("50.00"),
        partner=czytam,
    )
    Reward.objects.create(
        code="audiobook", name="Audiobook do wyboru", kind="product", points_cost=900, partner=czytam, stock=0
    )


def test_staff_filter_the_catalog_and_add_a_reward_after_fixing_its_dates(new_page, superuser, screenshot_dir):
    make_catalog()
    page = new_page(DESKTOP)
    log_in(page, "/admin/rewards/reward/")
    assert len(result_names(page)) == 4
    page.screenshot(path=screenshot_dir / "catalog-rewards-list.png", full_page=True)
    assert_every_column_visible(page)

    page.locator("#changelist-filter a", has_text="Dostępne teraz").click()
    page.wait_for_url(re.compile(r"availability=now"))
    assert sorted(result_names(page)) == ["Bon na książki 50 zł", "Dwa bilety do kina"]
    page.screenshot(path=screenshot_dir / "catalog-rewards-list-available.png", full_page=True)

    page.locator(".object-tools a.addlink").click()
    page.wait_for_url(re.compile(r"/reward/add/"))
    page.locator("#id_name").press_sequentially("Seans w sali VIP")
    assert page.locator("#id_code").input_value() == "seans-w-sali-vip"  # prepopulated from the name
    page.locator("#id_kind").select_option("experience")
    page.locator("#id_points_cost").fill("2500")
    # The partner is an autocomplete (select2): type and pick, as staff do.
    page.locator("#id_partner + .select2 .select2-selection").click()
    page.locator(".select2-search__field").fill("Helios")
    page.locator(".select2-results__option", has_text="Kino Helios").click()
    # Staff type dates the Polish way; the reward starts in a month, and ends by mistake a day before it starts.
    starts = timezone.localdate() + timedelta(days=30)
    page.locator("#id_available_from_0").fill(starts.strftime("%d.%m.%Y"))
    page.locator("#id_available_from_1").fill("10:00")
    page.locator("#id_available_until_0").fill((starts - timedelta(days=1)).strftime("%d.%m.%Y"))
    page.locator("#id_available_until_1").fill("10:00")
    page.locator("input[name=_save]").click()

    error = page.locator(".errornote, .errorlist").filter(has_text="musi być późniejsza")
    error.first.wait_for()
    assert "„Dostępna do” musi być późniejsza niż „dostępna od”." in page.locator("#content-main").inner_text()
    assert not Reward.objects.filter(code="seans-w-sali-vip").exists()
    page.screenshot(path=screenshot_dir / "catalog-reward-form-error.png", full_page=True)

    ends = starts + timedelta(days=30)
    page.locator("#id_available_until_0").fill(ends.strftime("%d.%m.%Y"))
    page.locator("input[name=_save]").click()
    # Back on the list as it was left, filtered: the new reward is not offered yet, so it shows under that.
    page.wait_for_url(re.compile(r"/admin/rewards/reward/\?availability=now$"))
    assert page.locator(".messagelist .success").count() == 1
    reward = Reward.objects.get(code="seans-w-sali-vip")
    assert (reward.partner.code, reward.points_cost, reward.kind) == ("kino-helios", 2500, "experience")
    assert timezone.localtime(reward.available_until).date() == ends
    assert "Seans w sali VIP" not in result_names(page)
    page.locator("#changelist-filter a", has_text="Jeszcze niedostępne").click()
    page.wait_for_url(re.compile(r"availability=scheduled"))
    assert result_names(page) == ["Seans w sali VIP"]

    page.goto(f"/admin/rewards/partner/{reward.partner_id}/change/")
    page.locator("#id_name").wait_for()
    page.screenshot(path=screenshot_dir / "catalog-partner-form.png", full_page=True)
    page.goto("/admin/rewards/partner/")
    page.screenshot(path=screenshot_dir / "catalog-partners-list.png", full_page=True)


def upload(page, kind: str, path, screenshot=None) -> None:
    page.goto(f"/admin/files/importjob/upload/?kind={kind}")
    assert page.locator("#id_kind").input_value() == kind
    assert page.locator("#import-kind code", has_text="points_cost" if kind == "rewards" else "nip").count() == 1
    if screenshot:
        page.screenshot(path=screenshot, full_page=True)
    page.locator("#id_file").set_input_files(path)
    page.locator("input[type=submit].default").click()
    page.wait_for_url(re.compile(r"/importjob/\d+/change/$"))


def count(page, action: str) -> str:
    return page.locator(f"#import-progress [data-action={action}] .import-count__number").inner_text()


def test_staff_import_partners_then_rewards_and_find_them_in_the_catalog(new_page, superuser, tmp_path, screenshot_dir):
    partners = tmp_path / "partnerzy.csv"
    partners.write_text(PARTNERS_CSV, encoding="utf-8")
    rewards = tmp_path / "nagrody.csv"
    rewards.write_text(REWARDS_CSV, encoding="utf-8")
    page = new_page(DESKTOP)
    log_in(page, "/admin/files/importjob/")

    upload(page, "partners", partners)
    assert (count(page, "new"), count(page, "invalid")) == ("2", "0")
    page.screenshot(path=screenshot_dir / "catalog-import-preview-partners.png", full_page=True)
    page.get_by_test_id("confirm-import").click()
    page.locator("#import-progress[data-status=done]").wait_for()
    assert sorted(Partner.objects.values_list("code", flat=True)) == ["kino-helios", "ksiegarnia-czytam"]

    upload(page, "rewards", rewards, screenshot=screenshot_dir / "catalog-import-upload-rewards.png")
    assert (count(page, "new"), count(page, "update"), count(page, "invalid")) == ("3", "0", "0")
    assert page.locator("#import-sample tbody tr").count() == 3
    assert Reward.objects.count() == 0
    page.screenshot(path=screenshot_dir / "catalog-import-preview-rewards.png", full_page=True)
    page.get_by_test_id("confirm-import").click()
    page.locator("#import-progress[data-status=done]").wait_for()
    assert count(page, "new") == "3"
    page.screenshot(path=screenshot_dir / "catalog-import-done-rewards.png", full_page=True)

    page.get_by_role("link", name="Wszystkie importy").click()
    assert page.locator("#result_list tbody tr").count() == 2
    page.screenshot(path=screenshot_dir / "catalog-import-list.png", full_page=True)

    page.goto("/admin/rewards/reward/")
    assert sorted(result_names(page)) == ["Bon na książki 50 zł", "Darmowa dostawa", "Dwa bilety do kina"]
    row = page.locator("#result_list tbody tr", has_text="Dwa bilety do kina")
    assert "Kino Helios" in row.inner_text()
    assert Reward.objects.get(code="bon-ksiazki-50").kind == "voucher"  # "bon" is understood
    assert_no_horizontal_overflow(page)
    page.screenshot(path=screenshot_dir / "catalog-rewards-list-imported.png", full_page=True)
    assert_every_column_visible(page)


@pytest.fixture
def queued_exports(monkeypatch):
    """The broker is outside the project: record the jobs the admin queues, and let the test run the task
    the way a worker would (tests/files/export_jobs/ captures the same call with on-commit callbacks)."""
    queued = []
    monkeypatch.setattr(export_job_task, "delay_on_commit", lambda job_id: queued.append(job_id))
    return queued


def test_a_long_member_export_runs_in_the_background_and_ends_with_a_download(
    new_page, superuser, browser_settings, make_member, queued_exports, screenshot_dir
):
    browser_settings.EXPORT_BACKGROUND_ROWS = 5
    for n in range(12):
        make_member(first_name="Anna", last_name=f"Nowak{n:02d}", city="Kraków")
    page = new_page(DESKTOP)
    log_in(page, "/admin/members/member/")
    page.locator("a.export_link").click()
    page.wait_for_url("**/member/export/**")
    page.locator("#id_format").select_option(label="csv")
    assert "ponad 5 wierszy" in page.locator("#content").inner_text()
    page.screenshot(path=screenshot_dir / "export-form.png", full_page=True)
    page.locator("input[type=submit].default").click()
    page.wait_for_url(re.compile(r"/exportjob/\d+/change/$"))

    job = ExportJob.objects.get()
    assert page.url.endswith(f"/exportjob/{job.pk}/change/")
    assert queued_exports == [job.pk]
    page.locator("#export-progress[data-status=queued]").wait_for()
    assert page.get_by_test_id("export-download").count() == 0
    page.screenshot(path=screenshot_dir / "export-job-queued.png", full_page=True)

    # A worker half-way through (it starts over when the task runs): the poll shows the bar moving.
    ExportJob.objects.filter(pk=job.pk).update(status="running", total_rows=12, written_rows=6)
    page.locator("#export-progress[data-status=running] progress[value='50']").wait_for()
    page.screenshot(path=screenshot_dir / "export-job-running.png", full_page=True)
    jobs = page.context.new_page()
    jobs.goto("/admin/files/exportjob/")
    assert jobs.locator("#result_list progress[value='50']").count() == 1
    jobs.screenshot(path=screenshot_dir / "export-job-list-running.png", full_page=True)
    jobs.close()

    export_job_task.apply(args=[job.pk])  # the worker's part

    # The next poll sees the job finished and reloads the page: the facts and the download link appear.
    download = page.get_by_test_id("export-download")
    download.wait_for()
    job.refresh_from_db()
    assert (job.status, job.total_rows, job.written_rows) == ("done", 12, 12)
    assert page.locator("#export-progress[data-status=done]").count() == 1
    page.screenshot(path=screenshot_dir / "export-job-done.png", full_page=True)

    with page.expect_download() as started:
        download.click()
    data = Path(started.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(data, newline="")))
    assert sorted(row["last_name"] for row in rows) == [f"Nowak{n:02d}" for n in range(12)]
    assert started.value.suggested_filename.endswith(".csv")

    page.goto("/admin/files/exportjob/")
    assert page.locator("#result_list tbody tr").count() == 1
    assert_no_horizontal_overflow(page)
    page.screenshot(path=screenshot_dir / "export-job-list.png", full_page=True)

    phone = new_page(PHONE, is_mobile=True, has_touch=True)
    log_in(phone, f"/admin/files/exportjob/{job.pk}/change/")
    assert phone.get_by_test_id("export-download").is_visible()
    assert_no_horizontal_overflow(phone)
    phone.screenshot(path=screenshot_dir / "export-job-done-phone.png", full_page=True)
