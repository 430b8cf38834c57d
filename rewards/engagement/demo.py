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
    """Four members the showcase member brought in (the demo's members and purchases stay as the command made
    them): their referrals are opened as enrolment opens them, and the first purchase of two of them at least
    the minimum is handed to the service as the posting hook hands it, so both sides earn points and the
    showcase's referral challenge moves; the other two still wait."""
    from members.models import Purchase
    from rewards.events import PurchasePosted

    from .services import engagement_settings, referrals_open, referrals_qualify

    showcase = Member.objects.get(pk=context.showcase_member_id)
    candidates = list(
        Member.objects.filter(status=Member.Status.ACTIVE, referred_by__isnull=True, referral__isnull=True)
        .exclude(pk=showcase.pk)
        .order_by("pk")
        .values_list("pk", flat=True)[:60]
    )
    picked = rng.sample(candidates, min(4, len(candidates)))
    if not picked:
        return
    minimum = engagement_settings().referral_min_purchase
    with transaction.atomic():
        Member.objects.filter(pk__in=picked).update(referred_by=showcase)
        referrals_open(pairs=[(member_id, showcase.pk) for member_id in picked], at=context.now - timedelta(days=20))
        events = []
        for member_id in picked[:2]:
            purchase = (
                Purchase.objects.filter(member_id=member_id, amount__gte=minimum).order_by("purchased_at", "pk").first()
            )
            if purchase is not None:
                events.append(
                    PurchasePosted(
                        member_id=member_id,
                        purchase_id=purchase.pk,
                        amount=purchase.amount,
                        purchased_at=purchase.purchased_at,
                        store=purchase.store,
                        source=purchase.source,
                        categories=(),
                        points=0,
                    )
                )
        referrals_qualify(events=events)


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
