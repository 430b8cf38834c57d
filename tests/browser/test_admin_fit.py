"""The member, purchase and ledger lists fit the screen staff work at: at 1280 px their key columns are inside
the viewport, at 1024 px the page itself does not scroll sideways (a list may scroll inside its own box)."""

from decimal import Decimal

import pytest

from members.models import Member
from members.services import member_enroll
from rewards.services import purchase_post

from .conftest import DESKTOP
from .staff import create_superuser, log_in

pytestmark = pytest.mark.browser

NARROW = {"width": 1024, "height": 900}
# list URL: the CSS classes Django gives the key columns' header cells (column-<name>).
KEY_COLUMNS = {
    "/admin/members/member/": ["member_number", "display_name", "tier_column", "num_points", "status", "city"],
    "/admin/members/purchase/": ["purchased_at", "external_id", "member", "store", "num_amount", "num_refunded"],
    "/admin/rewards/ledgerentry/": ["created_at", "member", "kind", "num_points", "reason_text"],
}


@pytest.fixture
def staff(transactional_db, browser_settings):
    """Members whose names, cities and amounts are as wide as real ones get, each with purchases and points."""
    for n in range(6):
        member = member_enroll(
            actor=None,
            join_source=Member.JoinSource.ADMIN,
            first_name="Małgorzata-Aleksandra",
            last_name=f"Brzęczyszczykiewicz-Wojciechowska{n}",
            email=f"malgorzata.aleksandra.{n}@example.pl",
            city="Kędzierzyn-Koźle",
        )
        for k in range(3):
            purchase_post(
                member=member,
                source="pos",
                external_id=f"POS-2026-12-06-STORE-{n:02d}-{k:04d}",
                amount=Decimal("123456.78"),
                store="store-12",
            )
    return create_superuser()


def _outside(page, columns: list[str], width: int) -> list[str]:
    outside = []
    for column in columns:
        header = page.locator(f"#result_list thead th.column-{column}")
        box = header.bounding_box()
        cell = page.locator(f"#result_list tbody tr:first-child .field-{column}").bounding_box()
        for name, rect in (("header", box), ("cell", cell)):
            if rect is None or rect["x"] < 0 or rect["x"] + rect["width"] > width:
                outside.append(f"{column} {name}: {rect}")
    return outside


def test_key_columns_are_inside_the_viewport_at_1280(new_page, staff, screenshot_dir):
    page = new_page(DESKTOP)
    log_in(page, "/admin/")
    problems = []
    for url, columns in KEY_COLUMNS.items():
        page.goto(url)
        page.locator("#result_list tbody tr").first.wait_for()
        problems += [f"{url}: {problem}" for problem in _outside(page, columns, DESKTOP["width"])]
        assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"], url
        page.screenshot(path=screenshot_dir / f"admin-fit-{url.strip('/').replace('/', '-')}.png")
    assert not problems, "\n".join(problems)


def test_no_page_wide_horizontal_scroll_at_1024(new_page, staff):
    page = new_page(NARROW)
    log_in(page, "/admin/")
    member_url = None
    for url in KEY_COLUMNS:
        page.goto(url)
        page.locator("#result_list tbody tr").first.wait_for()
        member_url = member_url or page.locator("#result_list tbody tr a").first.get_attribute("href")
        assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"], url
        # The first columns, those staff read first, are on screen even here.
        assert not _outside(page, KEY_COLUMNS[url][:3], NARROW["width"]), url
    page.goto(member_url)
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"], member_url
