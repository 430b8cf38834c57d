"""Migration 0016: the rewards' old free-text category put on the catalog's shelves (categories), once."""

from importlib import import_module

import pytest
from django.apps import apps

from rewards.models import Category, Reward
from tests.factories import CategoryFactory, RewardFactory

migration = import_module("rewards.migrations.0016_reward_category_to_categories")

pytestmark = pytest.mark.django_db


def reward(code: str, category: str) -> Reward:
    return RewardFactory(code=code, name=code, kind="product", points_cost=100, category=category)


def test_each_text_becomes_a_shelf_matched_by_name_and_the_rewards_stand_on_it():
    kino = CategoryFactory(code="kino", name="Kino i teatr")
    rewards = [
        reward("bilety", "Kino i teatr"),
        reward("popcorn", "  kino  I teatr "),  # the same shelf, written differently
        reward("ksiazka", "Książki"),
        reward("mapa", "Łódź i okolice"),
        reward("bez", ""),
    ]
    CategoryFactory(code="ksiazki", name="Inna półka")  # the code a new shelf would take is taken

    migration.categorise(apps, None)
    migration.categorise(apps, None)  # again: nothing more

    shelves = {r.code: sorted(r.categories.values_list("code", flat=True)) for r in Reward.objects.all()}
    assert shelves == {
        "bilety": ["kino"],
        "popcorn": ["kino"],
        "ksiazka": ["ksiazki-2"],
        "mapa": ["lodz-i-okolice"],
        "bez": [],
    }
    assert Category.objects.get(code="ksiazki-2").name == "Książki"
    assert Category.objects.get(code="lodz-i-okolice").name == "Łódź i okolice"
    assert Category.objects.count() == 4
    assert Reward.objects.get(code="popcorn").category == "  kino  I teatr "  # the text is left as it was
    assert kino.rewards.count() == 2
    assert rewards


def test_a_reward_already_on_its_shelf_is_left_alone():
    kino = CategoryFactory(code="kino", name="Kino")
    bilety = reward("bilety", "Kino")
    bilety.categories.add(kino)
    migration.categorise(apps, None)
    assert list(bilety.categories.all()) == [kino]
