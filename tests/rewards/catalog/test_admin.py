"""The catalog's admin pages, by staff role, and its import page."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from loyalty_site.files.models import ImportJob
from rewards.models import Partner, Reward
from tests.factories import VALID_NIP, RewardFactory

from .support import REWARDS, make_reward


@pytest.mark.parametrize(
    "url_name", ["admin:rewards_reward_changelist", "admin:rewards_reward_add", "admin:rewards_partner_changelist"]
)
def test_the_catalog_pages_open_for_a_superuser(admin_client_, partner, url_name):
    make_reward(partner=partner)
    assert admin_client_.get(reverse(url_name)).status_code == 200


@pytest.mark.parametrize(
    "query", ["?availability=now", "?availability=scheduled", "?availability=ended", "?availability=out_of_stock"]
)
def test_the_availability_filter_lists_the_matching_rewards(admin_client_, query):
    now = timezone.now()
    make_reward("now")
    make_reward("scheduled", available_from=now + timedelta(days=1))
    make_reward("ended", available_until=now - timedelta(days=1))
    make_reward("out_of_stock", stock=0)

    response = admin_client_.get(reverse("admin:rewards_reward_changelist") + query)

    assert [r.code for r in response.context["cl"].result_list] == [query.split("=")[1]]


def test_the_reward_list_runs_the_same_queries_for_many_rewards(
    admin_client_, partner, tiers, django_assert_max_num_queries
):
    for i in range(60):
        make_reward(f"r-{i}", partner=partner, min_tier=tiers[i % 3])
    with django_assert_max_num_queries(12):
        assert admin_client_.get(reverse("admin:rewards_reward_changelist")).status_code == 200


def test_the_search_finds_rewards_by_partner_name(admin_client_, partner):
    make_reward("kino", partner=partner)
    make_reward("kubek", name="Kubek")

    response = admin_client_.get(reverse("admin:rewards_reward_changelist"), {"q": "Helios"})

    assert [r.code for r in response.context["cl"].result_list] == ["kino"]


def test_staff_add_a_partner_with_the_nip_as_they_have_it(admin_client_):
    response = admin_client_.post(
        reverse("admin:rewards_partner_add"),
        {
            "name": "Kino Helios",
            "code": "kino-helios",
            "nip": "PL 123-456-32-18",
            "email": "partnerzy@helios.pl",
            "phone": "22 123 45 67",
            "is_active": "on",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Partner.objects.get().nip == VALID_NIP


def test_a_wrong_nip_is_refused_on_the_partner_form(admin_client_):
    response = admin_client_.post(
        reverse("admin:rewards_partner_add"),
        {"name": "X", "code": "x", "nip": "123-456-32-19", "email": "x@example.pl"},
    )

    assert response.status_code == 200
    assert "nip" in response.context["adminform"].form.errors
    assert not Partner.objects.exists()


def test_staff_add_a_reward_and_a_reversed_period_is_refused(admin_client_, partner):
    data = {
        "name": "Dwa bilety",
        "code": "dwa-bilety",
        "kind": "voucher",
        "points_cost": "1500",
        "partner": partner.pk,
        "is_active": "on",
        "available_from_0": "2026-05-01",
        "available_from_1": "00:00",
        "available_until_0": "2026-04-01",
        "available_until_1": "00:00",
    }
    refused = admin_client_.post(reverse("admin:rewards_reward_add"), data)
    assert refused.status_code == 200 and not Reward.objects.exists()
    form = refused.context["adminform"].form
    # Beside the field it is about, not at the top of the form.
    assert form.errors == {"available_until": ["„Dostępna do” musi być późniejsza niż „dostępna od”."]}

    data["available_until_0"] = "2026-06-01"
    assert admin_client_.post(reverse("admin:rewards_reward_add"), data).status_code == 302
    assert Reward.objects.get().partner == partner


def test_the_partner_filter_names_rewards_without_a_partner(admin_client_, partner):
    RewardFactory(name="Kawa", code="kawa", kind="product", points_cost=100)
    RewardFactory(name="Kino", code="kino", kind="voucher", points_cost=900, partner=partner)

    page = admin_client_.get(reverse("admin:rewards_reward_changelist"))
    without = admin_client_.get(reverse("admin:rewards_reward_changelist") + "?partner__isnull=True")

    assert "Bez partnera (nagroda własna)" in page.content.decode()
    assert [reward.code for reward in without.context["cl"].result_list] == ["kawa"]


def test_support_sees_the_catalog_but_may_not_add_to_it(role_client, partner):
    client = role_client("Support")
    make_reward(partner=partner)

    changelist = client.get(reverse("admin:rewards_reward_changelist"))
    assert changelist.status_code == 200
    assert reverse("admin:rewards_reward_add") not in changelist.content.decode()
    assert client.get(reverse("admin:rewards_reward_add")).status_code == 403
    assert client.get(reverse("admin:rewards_partner_add")).status_code == 403


def test_marketing_may_change_rewards_but_not_add_them_or_partners(role_client, partner):
    client = role_client("Marketing")
    reward = make_reward()

    assert client.get(reverse("admin:rewards_reward_change", args=[reward.pk])).status_code == 200
    assert client.get(reverse("admin:rewards_reward_add")).status_code == 403
    assert client.get(reverse("admin:rewards_partner_add")).status_code == 403


def test_the_programme_manager_may_delete_a_reward(role_client):
    client = role_client("Programme manager")
    reward = make_reward()

    response = client.post(reverse("admin:rewards_reward_delete", args=[reward.pk]), {"post": "yes"})

    assert response.status_code == 302 and not Reward.objects.exists()


@pytest.mark.parametrize("kind", ["rewards", "partners"])
def test_the_import_page_offers_the_catalog_imports_and_their_templates(admin_client_, kind):
    page = admin_client_.get(reverse("admin:files_importjob_upload"), {"kind": kind})
    assert page.status_code == 200
    assert f'value="{kind}"' in page.content.decode()
    template_url = reverse("admin:files_importjob_template", args=[kind])
    assert template_url in page.content.decode()

    template = admin_client_.get(template_url)

    assert template.status_code == 200
    assert template["Content-Disposition"] == f'attachment; filename="{kind}-template.csv"'
    assert template.content.decode("utf-8").startswith("\ufeffcode;name;")


def test_support_may_not_import_the_catalog(role_client):
    client = role_client("Support")
    assert client.get(reverse("admin:files_importjob_template", args=["rewards"])).status_code == 403
    assert client.get(reverse("admin:files_importjob_upload"), {"kind": "partners"}).status_code == 403


def test_the_programme_manager_uploads_a_rewards_file_from_the_admin(role_client, partner, tiers):
    client = role_client("Programme manager")

    response = client.post(
        reverse("admin:files_importjob_upload"),
        {"kind": "rewards", "file": SimpleUploadedFile("nagrody.csv", REWARDS.encode())},
    )

    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert (job.kind, job.status, job.counts) == ("rewards", ImportJob.Status.PREVIEWED, {"new": 3})
