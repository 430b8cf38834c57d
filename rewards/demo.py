"""The demo's reward catalog (a step of loyalty_site.demo): categories, partners with logos, rewards with
pictures, and redemptions made through rewards.redemption, leaving vouchers in every status.

Pictures and logos are drawn with Pillow (a coloured card with the reward's initials), so the demo needs no
files from outside. Everything is chosen from the seed; voucher codes are random, as in production.
"""

import io
import random
from datetime import timedelta
from decimal import Decimal

from django.core.files.base import ContentFile
from PIL import Image, ImageDraw

from loyalty_site.demo import steps
from members.models import Member

from .models import Category, Partner, PointsAccount, Reward, Voucher
from .redemption import RedemptionRefused, reward_redeem, voucher_cancel, voucher_use, vouchers_expire

CATEGORIES = [
    ("kino-i-kultura", "Kino i kultura"),
    ("jedzenie", "Jedzenie i kawa"),
    ("zakupy", "Zakupy"),
    ("dostawa", "Dostawa"),
    ("pomagamy", "Pomagamy"),
]
PARTNERS = [
    # code, name, colour, contact
    ("kino-helios", "Kino Helios", "#b42318", "Marta Zielińska"),
    ("kawiarnia-bajka", "Kawiarnia Bajka", "#7a4b00", "Piotr Lis"),
    ("fundacja-usmiech", "Fundacja Uśmiech", "#0d7a3a", "Ewa Maj"),
]
REWARDS = [
    # code, name, kind, cost, value, settlement, partner, categories, stock, colour
    ("kawa-latte", "Kawa latte", "product", 150, "12.00", "7.00", "kawiarnia-bajka", ["jedzenie"], None, "#8b5e34"),
    ("rabat-10", "Rabat 10% na zakupy", "discount", 300, None, None, None, ["zakupy"], None, "#0f766e"),
    ("bon-20", "Bon 20 zł", "voucher", 400, "20.00", None, None, ["zakupy"], None, "#0b5953"),
    ("darmowa-dostawa", "Darmowa dostawa", "free_delivery", 200, "14.99", None, None, ["dostawa"], None, "#1d4ed8"),
    ("bilet-kino", "Bilet do kina 2D", "experience", 900, "28.00", "18.00", "kino-helios", ["kino-i-kultura"], 40,
     "#b42318"),
    ("kino-dla-dwojga", "Kino dla dwojga z popcornem", "partner_offer", 2200, "70.00", "45.00", "kino-helios",
     ["kino-i-kultura", "jedzenie"], 10, "#9f1239"),
    ("torba-eko", "Torba ekologiczna", "product", 500, "25.00", None, None, ["zakupy"], 100, "#15803d"),
    ("darowizna-50", "Darowizna 50 pkt dla Fundacji Uśmiech", "donation", 50, "5.00", "5.00", "fundacja-usmiech",
     ["pomagamy"], None, "#0d7a3a"),
]  # fmt: skip
TERMS = "Kupon ważny w okresie podanym na kuponie. Nie łączy się z innymi promocjami. Nie podlega wymianie na gotówkę."


def _picture(text: str, colour: str, *, size=(640, 480)) -> ContentFile:
    """A plain card with initials: enough to see images in the catalog without shipping photos."""
    image = Image.new("RGB", size, colour)
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.ellipse((width * 0.25, height * 0.15, width * 0.75, height * 0.85), fill="#ffffff")
    initials = "".join(word[0] for word in text.split()[:2]).upper()
    draw.text((width / 2, height / 2), initials, fill=colour, anchor="mm", font_size=int(height * 0.28))
    data = io.BytesIO()
    image.save(data, format="PNG", optimize=True)
    return ContentFile(data.getvalue(), name="demo.png")


def seed_catalog(ctx: steps.DemoContext) -> None:
    rng = random.Random(ctx.seed * 7919 + 11)
    categories = {}
    for position, (code, name) in enumerate(CATEGORIES):
        categories[code] = Category.objects.update_or_create(code=code, defaults={"name": name, "position": position})[
            0
        ]
    partners = {}
    for code, name, colour, contact in PARTNERS:
        partner, created = Partner.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "email": f"kontakt@{code}.example.pl",
                "contact_name": contact,
                "active_from": (ctx.start - timedelta(days=30)).date(),
            },
        )
        if created or not partner.logo:
            partner.logo.save("logo.png", _picture(name, colour, size=(256, 256)))
        partners[code] = partner
    rewards = []
    for code, name, kind, cost, value, settlement, partner, cats, stock, colour in REWARDS:
        reward, created = Reward.objects.get_or_create(
            code=code,
            defaults={
                "name": name,
                "kind": kind,
                "points_cost": cost,
                "cash_value": Decimal(value) if value else None,
                "settlement_value": Decimal(settlement) if settlement else None,
                "partner": partners.get(partner),
                "stock": stock,
                "description": f"{name} — do odebrania za punkty w programie.",
                "terms": TERMS,
                "voucher_valid_days": 30,
                "return_unused": kind in ("free_delivery", "discount"),
                "per_member_limit": 2 if kind == "partner_offer" else None,
            },
        )
        if created or not reward.image:
            reward.image.save("image.png", _picture(name, colour))
        reward.categories.set([categories[c] for c in cats])
        rewards.append(reward)
    counts = _redeem(ctx, rng, rewards)
    ctx.shared["rewards_vouchers"] = list(Voucher.objects.values_list("pk", flat=True))
    ctx.log(
        "Reward catalog: {} rewards, {} partners; vouchers {}".format(
            len(rewards), len(partners), ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        )
    )


def _redeem(ctx: steps.DemoContext, rng: random.Random, rewards: list[Reward]) -> dict[str, int]:
    """Redemptions through the service: some used, some cancelled, some left to expire, most still to use."""
    cheapest = min(reward.points_cost for reward in rewards)
    accounts = list(
        PointsAccount.objects.filter(balance__gte=cheapest * 2, member__status=Member.Status.ACTIVE)
        .exclude(member_id=ctx.showcase_member_id)
        .order_by("member_id")
        .values_list("member_id", "balance")
    )
    chosen = rng.sample(accounts, min(60, len(accounts)))
    done = []
    for index, (member_id, balance) in enumerate(chosen):
        affordable = [reward for reward in rewards if reward.points_cost <= balance // 2]
        if not affordable:
            continue
        reward = rng.choice(affordable)
        # A fifth were redeemed long enough ago for the voucher to have run out.
        when = ctx.now - timedelta(days=rng.randint(35, 60) if index % 5 == 0 else rng.randint(0, 25))
        try:
            done.append(reward_redeem(member=Member(pk=member_id), reward=reward, now=when))
        except RedemptionRefused:
            continue
    for position, redemption in enumerate(done):
        voucher = redemption.voucher
        if voucher.expires_at <= ctx.now:
            continue
        if position % 3 == 0:
            voucher_use(voucher=voucher, actor=None)
        elif position % 7 == 1:
            voucher_cancel(voucher=voucher, actor=None)
    vouchers_expire(now=ctx.now)
    _showcase(ctx, rewards)
    return {status: Voucher.objects.filter(status=status).count() for status in Voucher.Status.values}


def _showcase(ctx: steps.DemoContext, rewards: list[Reward]) -> None:
    """The demo login gets a voucher to show at the till and one already used, if the points allow."""
    member = Member(pk=ctx.showcase_member_id)
    for position, reward in enumerate(sorted(rewards, key=lambda r: r.points_cost)[:3]):
        balance = PointsAccount.objects.filter(member_id=member.pk).values_list("balance", flat=True).first() or 0
        if balance < reward.points_cost + 200:  # keep something to spend in the portal
            break
        try:
            redemption = reward_redeem(member=member, reward=reward, now=ctx.now - timedelta(days=position * 3))
        except RedemptionRefused:
            continue
        if position == 1:
            voucher_use(voucher=redemption.voucher, actor=None)


steps.register("rewards-catalog", seed_catalog, order=20)
