"""The engagement part of the demo (a step of loyalty_site.demo.steps): badges with generated images, finished,
running and upcoming challenges counted through the services, milestone badges, referrals that earned points
through the posting hooks, leaderboard names and today's birthdays."""

import io
import random
from datetime import timedelta
from decimal import Decimal

from django.core.files.base import ContentFile
from django.db import transaction

from loyalty_site.demo import steps
from members.models import Member
from members.services import member_enroll
from rewards.models import PointsAccount, Tier

from .models import Badge, Challenge, LeaderboardProfile
from .services import (
    badges_first_purchase,
    badges_one_year,
    badges_tier_reached,
    birthday_bonuses_award,
    challenge_recalculate,
    month_bounds,
)

# code, name, description, milestone, colour, symbol
BADGES = (
    ("pierwsze-zakupy", "Pierwsze zakupy", "Za pierwszy zakup w programie.", "first_purchase", "#0f766e", "1"),
    ("rok-z-nami", "Rok z nami", "Za rok w programie lojalnościowym.", "one_year", "#b45309", "365"),
    ("zloty-klient", "Złoty klient", "Za osiągnięcie poziomu Złotego.", "tier_reached", "#ca8a04", "Au"),
    ("odkrywca", "Odkrywca", "Za zakupy w nowym sklepie lub kanale.", "", "#7c3aed", "?"),
    ("perfumiarz", "Miłośnik perfum", "Za zakupy perfum w czasie wyzwania.", "", "#db2777", "P"),
    ("staly-bywalec", "Stały bywalec", "Za pięć wizyt w miesiącu.", "", "#2563eb", "5"),
)


def badge_image(colour: str, symbol: str, size: int = 192) -> bytes:
    """A round badge: a coloured disc, a light ring and the symbol in the middle (PNG)."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((4, 4, size - 4, size - 4), fill=colour)
    draw.ellipse((18, 18, size - 18, size - 18), outline=(255, 255, 255, 200), width=6)
    try:
        font = ImageFont.load_default(size=size // 3)
    except TypeError:  # Pillow before 10.1
        font = ImageFont.load_default()
    draw.text((size / 2, size / 2), symbol, fill="white", font=font, anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def _badges() -> dict[str, Badge]:
    gold = Tier.objects.order_by("-rank").first()
    badges = {}
    for code, name, description, milestone, colour, symbol in BADGES:
        badge, created = Badge.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "description": description,
                "milestone": milestone if (milestone != "tier_reached" or gold) else "",
                "tier": gold if milestone == "tier_reached" else None,
            },
        )
        if created or not badge.image:
            badge.image.save(f"{code}.png", ContentFile(badge_image(colour, symbol)), save=True)
        badges[code] = badge
    return badges


def _challenges(context: steps.DemoContext, badges: dict[str, Badge]) -> list[Challenge]:
    month_start, month_end = month_bounds(context.now - timedelta(days=1))
    last_start, _ = month_bounds(month_start - timedelta(days=1))
    next_start = month_end
    silver = Tier.objects.filter(rank=1).first()
    specs = [
        # Finished last month.
        {
            "code": "demo-5-wizyt",
            "name": "Pięć wizyt w miesiącu",
            "kind": "purchases",
            "target": 5,
            "points": 300,
            "badge": badges["staly-bywalec"],
            "starts_at": last_start,
            "ends_at": month_start,
            "description": "Zrób pięć zakupów w ciągu miesiąca.",
        },
        {
            "code": "demo-wydaj-500",
            "name": "Wydaj 500 zł",
            "kind": "spend",
            "target": 500,
            "points": 250,
            "starts_at": last_start,
            "ends_at": month_start,
            "description": "Zakupy za co najmniej 500 zł w miesiącu.",
        },
        # Running now.
        {
            "code": "demo-3-zakupy",
            "name": "Trzy zakupy w tym miesiącu",
            "kind": "purchases",
            "target": 3,
            "points": 150,
            "starts_at": month_start,
            "ends_at": month_end,
            "description": "Trzy zakupy do końca miesiąca.",
        },
        {
            "code": "demo-perfumy",
            "name": "Perfumowy miesiąc",
            "kind": "category",
            "category": "Perfumy",
            "target": 2,
            "points": 200,
            "badge": badges["perfumiarz"],
            "starts_at": month_start,
            "ends_at": month_end,
            "description": "Kup perfumy dwa razy w tym miesiącu.",
        },
        {
            "code": "demo-nowy-sklep",
            "name": "Odkryj nowy sklep",
            "kind": "new_store",
            "target": 1,
            "points": 100,
            "badge": badges["odkrywca"],
            "starts_at": last_start,
            "ends_at": month_end,
            "description": "Zrób zakupy w sklepie lub kanale, w którym jeszcze nie kupowałeś.",
        },
        {
            "code": "demo-srebrni-1000",
            "name": "Srebrne 1000 zł",
            "kind": "spend",
            "target": 1000,
            "points": 500,
            "audience": "tier" if silver else "everyone",
            "tier": silver,
            "starts_at": month_start,
            "ends_at": month_end,
            "description": "Dla poziomu Srebrnego i wyższych: zakupy za 1000 zł w tym miesiącu.",
        },
        {
            "code": "demo-profil",
            "name": "Uzupełnij profil",
            "kind": "profile",
            "target": 1,
            "points": 50,
            "starts_at": last_start,
            "ends_at": month_end,
            "description": "Podaj miasto, kod pocztowy i datę urodzenia.",
        },
        {
            "code": "demo-polec-2",
            "name": "Poleć dwie osoby",
            "kind": "referrals",
            "target": 2,
            "points": 300,
            "starts_at": last_start,
            "ends_at": next_start + timedelta(days=60),
            "description": "Dwie osoby, które dołączą z Twojego linku i zrobią pierwsze zakupy.",
        },
        # Upcoming.
        {
            "code": "demo-nastepny-miesiac",
            "name": "Wiosenne porządki",
            "kind": "purchases",
            "target": 4,
            "points": 200,
            "starts_at": next_start,
            "ends_at": next_start + timedelta(days=30),
            "description": "Cztery zakupy w przyszłym miesiącu.",
        },
    ]
    challenges = []
    for spec in specs:
        spec["target"] = Decimal(spec["target"])
        challenge, _created = Challenge.objects.get_or_create(code=spec.pop("code"), defaults=spec)
        challenges.append(challenge)
    return challenges


def seed(context: steps.DemoContext) -> None:
    rng = random.Random(context.seed + 11)
    badges = _badges()
    challenges = _challenges(context, badges)
    context.log(f"Engagement: {len(badges)} badges, {len(challenges)} challenges")
    for challenge in challenges:
        if challenge.starts_at < context.now:
            completed = challenge_recalculate(challenge=challenge)
            context.progress(f"Engagement: {challenge.code}: {completed} completed")
    # Milestone badges for the history written before the badges existed.
    buyers = list(Member.objects.filter(purchases__isnull=False).distinct().values_list("pk", flat=True))
    for first in range(0, len(buyers), 5000):
        with transaction.atomic():
            badges_first_purchase(member_ids=buyers[first : first + 5000], at=context.now)
    badges_one_year(now=context.now)
    gold = Tier.objects.order_by("-rank").first()
    if gold is not None:
        moves = list(PointsAccount.objects.filter(tier=gold).values_list("member_id", "tier_id"))
        with transaction.atomic():
            badges_tier_reached(moves=moves, at=context.now)
    _referrals(context, rng)
    _leaderboard(context, rng)
    birthday_bonuses_award(today=context.now.date())


def _referrals(context: steps.DemoContext, rng: random.Random) -> None:
    """Friends of the showcase member join with the referral link; most buy, through the posting path, so the
    referral hooks reward them (one stays pending, one shares the referrer's phone and is refused)."""
    from rewards.services import purchase_post, tiers_recalculate_all

    showcase = Member.objects.get(pk=context.showcase_member_id)
    joined = []
    friends = [("Zofia", "Lis", "80"), ("Kacper", "Wróbel", "120"), ("Maja", "Sowa", None), ("Ignacy", "Kruk", "60")]
    for n, (first_name, last_name, amount) in enumerate(friends):
        email = f"{first_name.lower()}.{context.seed}.{n}@example.com"
        if Member.objects.filter(email=email).exists():
            continue
        phone = showcase.phone if n == 3 and showcase.phone else ""
        friend = member_enroll(
            actor=None,
            join_source=Member.JoinSource.REFERRAL,
            referred_by=showcase,
            first_name=first_name,
            last_name=last_name,
            email=email,
            phone=phone,
            joined_at=context.now - timedelta(days=20 - n),
        )
        joined.append(friend.pk)
        if amount:
            purchase_post(
                member=friend,
                source="demo",
                external_id=f"ref-{friend.pk}",
                amount=Decimal(amount),
                purchased_at=context.now - timedelta(days=10 - n),
                store="online",
            )
    PointsAccount.objects.bulk_create([PointsAccount(member_id=pk) for pk in joined], ignore_conflicts=True)
    tiers_recalculate_all(now=context.now, member_ids=joined)  # the entry tier, as the rest of the demo has


NICKNAMES = ("Kawowa", "Perfumowy", "Łowca", "Promyk", "Szybka", "Mistrz", "Złota", "Leśny", "Wesoła", "Cichy")
NOUNS = ("Mewa", "Lis", "Sowa", "Rysiek", "Pszczółka", "Jeż", "Kotek", "Bóbr", "Żabka", "Orzeł")


def _leaderboard(context: steps.DemoContext, rng: random.Random) -> None:
    members = list(Member.objects.filter(status=Member.Status.ACTIVE).order_by("pk").values_list("pk", flat=True))
    chosen = set(rng.sample(members, min(40, len(members)))) | {context.showcase_member_id}
    profiles = []
    for n, member_id in enumerate(sorted(chosen)):
        name = f"{rng.choice(NICKNAMES)} {rng.choice(NOUNS)} {n}"
        if member_id == context.showcase_member_id:
            name = "Kawowa Mewa"
        profiles.append(LeaderboardProfile(member_id=member_id, display_name=name, opted_in=True))
    LeaderboardProfile.objects.bulk_create(profiles, ignore_conflicts=True)


steps.register("engagement", seed, order=50)
