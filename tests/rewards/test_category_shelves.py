"""The rewards import's category column puts rewards on the catalog's shelves, matched by name, created once."""

from django.core.files.uploadedfile import SimpleUploadedFile

from loyalty_site.files.importing import import_apply, import_job_create, import_preview
from rewards.models import Category, Reward
from tests.factories import CategoryFactory


def run(content: str, user):
    job = import_job_create(kind="rewards", file=SimpleUploadedFile("r.csv", content.encode()), name="r.csv", user=user)
    return import_apply(job=import_preview(job=job))


def shelves() -> dict[str, list[str]]:
    return {r.code: sorted(c.name for c in r.categories.all()) for r in Reward.objects.order_by("code")}


def test_imported_rewards_stand_on_the_shelf_their_category_names(staff_user):
    CategoryFactory(code="kino", name="Kino i teatr", position=1)
    run(
        "code;name;kind;points_cost;category\n"
        "bilety;Bilety;voucher;100;kino  I Teatr\n"
        "ksiazka;Książka;product;100;Książki\n"
        "kubek;Kubek;product;100;\n",
        staff_user,
    )
    assert shelves() == {"bilety": ["Kino i teatr"], "ksiazka": ["Książki"], "kubek": []}
    assert Category.objects.get(name="Książki").code == "ksiazki"

    # Again, and with a changed category: nothing doubled; the new shelf is added, the old one stays.
    run("code;category\nbilety;Kino i teatr\nksiazka;Łódzkie książki\nkubek;Gadżety\n", staff_user)
    assert shelves() == {
        "bilety": ["Kino i teatr"],
        "ksiazka": ["Książki", "Łódzkie książki"],
        "kubek": ["Gadżety"],
    }
    assert Category.objects.count() == 4
    assert Category.objects.get(name="Łódzkie książki").code == "lodzkie-ksiazki"
