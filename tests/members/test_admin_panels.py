"""Other apps' panels and buttons appear on a member's admin page through members.admin_panels."""

import pytest
from django.urls import reverse

from members import admin_panels
from members.models import Member


@pytest.fixture
def registered():
    admin_panels.panel(
        "test-panel",
        "Panel from another app",
        "admin/members/member/_test_panel.html",
        lambda request, member: {"number": member.member_number},
        order=99,
    )
    admin_panels.panel("test-hidden", "Hidden panel", "x.html", lambda request, member: None, order=98)
    admin_panels.tool("test-tool", "Tool from another app", lambda request, member: f"/tool/{member.pk}/", order=99)
    yield
    for name in ("test-panel", "test-hidden"):
        admin_panels._panels.pop(name, None)
    admin_panels._tools.pop("test-tool", None)


@pytest.mark.django_db
def test_registered_panels_and_tools_show_on_the_member_page(admin_client, registered, tmp_path, settings):
    template_dir = tmp_path / "admin" / "members" / "member"
    template_dir.mkdir(parents=True)
    (template_dir / "_test_panel.html").write_text("<p>number {{ panel.number }}</p>")
    # Assigned (not mutated in place) so the template engines are rebuilt even if an earlier test built them.
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    member = Member.objects.create(member_number="M-PANEL-1", first_name="Ala", last_name="Nowak")
    page = admin_client.get(reverse("admin:members_member_change", args=[member.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Panel from another app" in html and "number M-PANEL-1" in html
    assert "Hidden panel" not in html
    assert f'href="/tool/{member.pk}/"' in html and "Tool from another app" in html
