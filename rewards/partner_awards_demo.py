"""The demo's co-branded promotion: a partner of the demo catalog gives points to a few members (the showcase
member among them) through the award page's service, so the ledger and the portal's history show a partner's
points. Runs after the catalog step made the partners; deterministic for a seed and a month, and a second run
awards nobody twice (the promotion's keys)."""

import random

from loyalty_site.demo import steps
from members.models import Member

from .models import Partner
from .partner_awards import partner_awards_post

MEMBERS = 25
PARTNER = "kino-helios"  # the cinema of the demo catalog (rewards.demo.PARTNERS)


def seed_partner_awards(ctx: steps.DemoContext) -> None:
    partner = Partner.objects.filter(code=PARTNER, is_active=True).first()
    if partner is None:
        return  # the catalog step did not make it
    rng = random.Random(ctx.seed * 104729 + 5)
    active = list(Member.objects.filter(status=Member.Status.ACTIVE).order_by("pk").values_list("pk", flat=True))
    chosen = set(rng.sample(active, min(MEMBERS, len(active))))
    if ctx.showcase_member_id in active:
        chosen.add(ctx.showcase_member_id)
    awards = [[line, pk, rng.choice((50, 100, 150))] for line, pk in enumerate(sorted(chosen), start=2)]
    result = partner_awards_post(
        partner=partner,
        promotion=f"demo-{ctx.now:%Y-%m}",
        reason="Bilety kupione w promocji partnera",
        awards=awards,
    )
    ctx.log(f"Partner promotion ({partner.name}): {result.awarded} members, {result.points} points")


steps.register("partner-awards", seed_partner_awards, order=25)
