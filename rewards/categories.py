"""The catalog's shelves (`Category`) named by text: what the rewards import writes in its `category` column puts
the reward on the shelf of that name, created when there is none (migration 0016 did the same, once, for the
rewards that had a category before shelves existed).

A name matches a shelf whatever its case and spacing ("Kino i teatr" is " kino  I teatr"). A new shelf gets a
code made from its name (Polish letters without their marks) and the highest position there is (with the last
shelves, by name); staff rename, order or merge shelves in the admin. Shelves a reward already stands on
stay: the text adds one, it never takes one away.
"""

import re
import unicodedata

from django.db.models import Max

from .models import Category, Reward

CODE_LENGTH = Category._meta.get_field("code").max_length
NAME_LENGTH = Category._meta.get_field("name").max_length


def shelf_key(text: str) -> str:
    return " ".join(text.split()).casefold()


def shelf_code(text: str) -> str:
    text = text.replace("ł", "l").replace("Ł", "L")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:CODE_LENGTH].strip("-") or "category"


def rewards_shelve(*, texts_by_code: dict[str, str]) -> None:
    """Put each reward (by its code) on the shelf its text names. A fixed number of queries however many rewards;
    safe to repeat, and two imports at once create a shelf once (its code is unique)."""
    names = {shelf_key(text): " ".join(text.split())[:NAME_LENGTH] for text in texts_by_code.values() if text.strip()}
    if not names:
        return
    shelves = {shelf_key(category.name): category for category in Category.objects.all()}  # a few dozen
    codes = {category.code for category in shelves.values()}
    position = Category.objects.aggregate(last=Max("position"))["last"] or 0
    new = []
    for key, name in sorted(names.items()):
        if key in shelves:
            continue
        code, n = shelf_code(name), 2
        while code in codes:
            suffix = f"-{n}"
            code, n = shelf_code(name)[: CODE_LENGTH - len(suffix)] + suffix, n + 1
        codes.add(code)
        new.append(Category(code=code, name=name, position=position))
    if new:
        Category.objects.bulk_create(new, ignore_conflicts=True)
        shelves.update({shelf_key(c.name): c for c in Category.objects.filter(code__in=[c.code for c in new])})
    rewards = dict(Reward.objects.filter(code__in=list(texts_by_code)).values_list("code", "pk"))
    Through = Reward.categories.through
    Through.objects.bulk_create(
        [
            Through(reward_id=rewards[code], category_id=shelves[shelf_key(text)].pk)
            for code, text in texts_by_code.items()
            if text.strip() and code in rewards and shelf_key(text) in shelves
        ],
        ignore_conflicts=True,  # already on that shelf
    )
