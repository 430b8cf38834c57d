"""The catalog's old free-text `Reward.category` (what imports and the first admin wrote) put on the shelves members
filter by (`Reward.categories`, 0012): each distinct text becomes a Category, matched by name (case and spaces
ignored) or created with a code made from it, and every reward with that text stands on it. The text stays as it
was. Safe to run again: a reward already on the shelf is left alone. `Partner` never had a category: nothing to
move there."""

import re
import unicodedata

from django.db import migrations

CODE_LENGTH = 40
NAME_LENGTH = 80


def _code(text: str) -> str:
    """A slug of the text, Polish letters written without their marks (ł has no decomposition: by hand)."""
    text = text.replace("ł", "l").replace("Ł", "L")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:CODE_LENGTH].strip("-") or "category"


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def categorise(apps, schema_editor):
    Reward = apps.get_model("rewards", "Reward")
    Category = apps.get_model("rewards", "Category")
    texts = {
        _key(text): " ".join(text.split())
        for text in Reward.objects.exclude(category="").values_list("category", flat=True).distinct()
        if text.strip()
    }
    if not texts:
        return
    shelves = {_key(category.name): category for category in Category.objects.all()}
    codes = set(Category.objects.values_list("code", flat=True))
    for key, name in sorted(texts.items()):
        if key in shelves:
            continue
        code, n = _code(name), 2
        while code in codes:
            suffix = f"-{n}"
            code, n = _code(name)[: CODE_LENGTH - len(suffix)] + suffix, n + 1
        codes.add(code)
        shelves[key] = Category.objects.create(code=code, name=name[:NAME_LENGTH])
    Through = Reward.categories.through
    on_shelf = set(Through.objects.values_list("reward_id", "category_id"))
    links = []
    for reward_id, text in Reward.objects.exclude(category="").values_list("pk", "category"):
        if not text.strip():
            continue
        category_id = shelves[_key(text)].pk
        if (reward_id, category_id) not in on_shelf:
            links.append(Through(reward_id=reward_id, category_id=category_id))
    Through.objects.bulk_create(links)


class Migration(migrations.Migration):
    dependencies = [("rewards", "0015_ledger_reason_codes")]

    operations = [migrations.RunPython(categorise, migrations.RunPython.noop)]
