"""Vouchers in the admin: the till (look-up, mark used), redeeming for a member, roles, the partner settlement."""

import io
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from rewards.models import Partner, PointsAccount, Voucher, VoucherLookup
from rewards.redemption import reward_redeem
from rewards.services import points_earn
from tests.factories import PartnerFactory, RewardFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("english")]
TILL = "admin:rewards_voucher_till"


@pytest.fixture
def voucher(member, program):
    points_earn(member=member, points=500, reason="start", idempotency_key="start")
    reward = RewardFactory(code="kawa", name="Kawa", kind="product", points_cost=100)
    return reward_redeem(member=member, reward=reward).voucher


def test_support_looks_a_code_up_and_marks_it_used_once(role_client, voucher):
    client = role_client("Support")
    page = client.post(reverse(TILL), {"code": voucher.code.lower()})
    assert page.status_code == 200
    assert page.context["voucher"] == voucher
    assert "Kawa" in page.content.decode()
    used = client.post(reverse(TILL), {"voucher": voucher.pk, "use": "1"}, follow=True)
    assert used.status_code == 200
    voucher.refresh_from_db()
    assert voucher.status == Voucher.Status.USED and voucher.used_by == client.user
    again = client.post(reverse(TILL), {"voucher": voucher.pk, "use": "1"}, follow=True)
    assert "already been used" in again.content.decode()
    assert VoucherLookup.objects.filter(actor=client.user).count() == 1


def test_till_lookups_are_limited(role_client, voucher, settings):
    settings.VOUCHER_LOOKUPS_PER_MINUTE = 2
    client = role_client("Support")
    for _ in range(2):
        client.post(reverse(TILL), {"code": "XXXX-XXXX-XXXX"})
    page = client.post(reverse(TILL), {"code": voucher.code})
    assert page.context["voucher"] is None and page.context["limited"]
    assert VoucherLookup.objects.filter(outcome="limited").count() == 1


def test_analyst_cannot_use_the_till_or_redeem(role_client, voucher, member):
    client = role_client("Analyst")
    assert client.get(reverse(TILL)).status_code == 403
    assert client.get(reverse("admin:rewards_redemption_redeem_for", args=[member.pk])).status_code == 403
    assert client.get(reverse("admin:rewards_voucher_changelist")).status_code == 200


def test_support_redeems_for_a_member_from_the_member_page(role_client, member, program):
    points_earn(member=member, points=500, reason="start", idempotency_key="start")
    reward = RewardFactory(code="kino", name="Kino", kind="experience", points_cost=200)
    client = role_client("Support")
    page = client.get(reverse("admin:members_member_change", args=[member.pk]))
    url = reverse("admin:rewards_redemption_redeem_for", args=[member.pk])
    assert url in page.content.decode()
    form = client.get(url)
    token = form.context["form"].initial["token"]
    for _ in range(2):  # a double click redeems once
        done = client.post(url, {"reward": reward.pk, "token": token})
        assert done.status_code == 302
    assert PointsAccount.objects.get(member=member).balance == 300
    assert Voucher.objects.get().redemption.actor == client.user
    refused = client.post(url, {"reward": reward.pk, "token": "other"})
    refused = client.post(url, {"reward": reward.pk, "token": "third"})
    assert refused.status_code == 200 and "You need 200 points" in refused.content.decode()


def test_settlement_page_and_exports(role_client, member, program):
    partner = PartnerFactory(code="helios", name="Helios", email="k@helios.pl")
    reward = RewardFactory(
        code="kino", name="Kino", kind="experience", points_cost=100, partner=partner, settlement_value=Decimal("9.90")
    )
    points_earn(member=member, points=500, reason="start", idempotency_key="start")
    for _ in range(3):
        reward_redeem(member=member, reward=reward)
    client = role_client("Programme manager")
    url = reverse("admin:rewards_partner_settlement", args=[partner.pk])
    page = client.get(url)
    assert page.status_code == 200 and page.context["settlement"].amount == Decimal("29.70")
    csv_response = client.get(url, {"format": "csv", "month": page.context["month_value"]})
    lines = csv_response.content.decode().strip().splitlines()
    assert len(lines) == 4 and lines[0].startswith("redemption_id")
    xlsx = client.get(url, {"format": "xlsx"})
    assert xlsx["Content-Type"].startswith("application/vnd.openxmlformats")
    assert client.get(url, {"month": "nonsense"}).status_code == 200


def _png(size=(1600, 900), mode="RGB") -> bytes:
    data = io.BytesIO()
    Image.new(mode, size, "teal").save(data, format="PNG")
    return data.getvalue()


def test_partner_logo_is_checked_resized_and_public(admin_client_, settings, tmp_path):
    settings.PUBLIC_MEDIA_ROOT = tmp_path / "public"
    settings.MEDIA_ROOT = tmp_path / "private"
    data = {"name": "Helios", "code": "helios", "email": "k@helios.pl", "is_active": "on"}
    bad = admin_client_.post(
        reverse("admin:rewards_partner_add"), {**data, "logo": SimpleUploadedFile("x.png", b"not an image")}
    )
    assert bad.status_code == 200 and not Partner.objects.exists()
    response = admin_client_.post(
        reverse("admin:rewards_partner_add"), {**data, "logo": SimpleUploadedFile("Jan Kowalski.png", _png())}
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    partner = Partner.objects.get()
    assert partner.logo.url.startswith(settings.PUBLIC_MEDIA_URL)
    assert "Kowalski" not in partner.logo.name
    path = settings.PUBLIC_MEDIA_ROOT / partner.logo.name
    assert path.exists() and not (tmp_path / "private").exists()
    with Image.open(path) as stored:
        assert max(stored.size) == 800
