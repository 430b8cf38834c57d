"""The portal's account tokens and data export requests in the admin: view only, for programme managers and
support (migration members 0012), with no secret shown and the destination masked without the personal data
permission."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone

from members.accounts.tokens import token_issue
from members.models import DataExport

pytestmark = pytest.mark.usefixtures("english")


@pytest.fixture
def records(make_member):
    member = make_member(email="zofia@example.pl")
    issued = token_issue(
        member=member, purpose="claim", channel="email", destination="zofia@example.pl", lifetime=timedelta(hours=1)
    )
    export = DataExport.objects.create(
        member=member, format="json", status=DataExport.Status.DONE, finished_at=timezone.now()
    )
    return issued, export


@pytest.mark.parametrize("role", ["Programme manager", "Support"])
def test_managers_and_support_see_tokens_and_exports_read_only(role_client, records, role):
    issued, export = records
    client = role_client(role)
    for model, obj in (("accounttoken", issued.token), ("dataexport", export)):
        listing = client.get(reverse(f"admin:members_{model}_changelist"))
        assert listing.status_code == 200
        page = client.get(reverse(f"admin:members_{model}_change", args=[obj.pk]))
        assert page.status_code == 200
        html = page.content.decode()
        assert 'name="_save"' not in html  # nothing to save
        assert client.post(reverse(f"admin:members_{model}_change", args=[obj.pk]), {}).status_code == 403
        assert client.get(reverse(f"admin:members_{model}_add")).status_code == 403
        assert client.get(reverse(f"admin:members_{model}_delete", args=[obj.pk])).status_code == 403
    token_page = client.get(reverse("admin:members_accounttoken_change", args=[issued.token.pk])).content.decode()
    for secret in (issued.secret, issued.code, issued.token.secret_hash, issued.token.code_hash):
        assert secret not in token_page
    assert "zofia@example.pl" in token_page  # both roles may see members' personal data
    assert "waiting" in token_page


@pytest.mark.parametrize("role", ["Marketing", "Analyst", None])
def test_other_roles_do_not_see_them(role_client, records, role):
    client = role_client(role)
    for model in ("accounttoken", "dataexport"):
        assert client.get(reverse(f"admin:members_{model}_changelist")).status_code == 403


def test_the_destination_is_masked_without_the_personal_data_permission(client, records):
    issued, _export = records
    viewer = get_user_model().objects.create_user(username="viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(content_type__app_label="members", codename="view_accounttoken"))
    client.force_login(viewer)
    listing = client.get(reverse("admin:members_accounttoken_changelist")).content.decode()
    page = client.get(reverse("admin:members_accounttoken_change", args=[issued.token.pk])).content.decode()
    for html in (listing, page):
        assert "zofia@example.pl" not in html and "z***@example.pl" in html
    issued.token.used_at = timezone.now()
    issued.token.save(update_fields=["used_at"])
    assert ">used<" in client.get(reverse("admin:members_accounttoken_changelist")).content.decode()
