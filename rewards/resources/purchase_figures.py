"""What the purchases import's page shows: the points to be posted (preview) and posted (result)."""

from collections import defaultdict

from django.urls import reverse
from django.utils import formats
from django.utils.http import urlencode
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext

from loyalty_site.db import any_of
from loyalty_site.files.importing import Figure, Outcome
from loyalty_site.files.models import ImportJob

from ..config import programme_config
from ..earning import calculate_points
from ..models import PointsAccount


class PurchaseFigures:
    """The figures of `ImportHandler` for the purchases import (mixed into PurchaseImport)."""

    def preview_figures(self, outcomes: list[Outcome], *, job: ImportJob) -> dict[str, int]:
        """The points the chunk's new purchases would earn at their members' tiers today, in all and by rule
        (the batch may earn more where the file itself lifts a member to a higher tier)."""
        heads = [
            o
            for o in outcomes
            if o.action == "new" and isinstance(o.data, dict) and o.data.get("member_id") and o.data.get("amount")
        ]
        if not heads:
            return {}
        config = programme_config()
        tiers = {tier.pk: tier for tier in config.tiers}
        # The keys as one array parameter (any_of): an IN list of thousands of ids cost more than the query.
        tier_of = {}
        for accounts in any_of(PointsAccount.objects.all(), "member_id", sorted({h.data["member_id"] for h in heads})):
            tier_of.update(accounts.values_list("member_id", "tier_id"))
        ruleset = config.ruleset
        points = purchases = 0
        by_rule: dict[str, int] = defaultdict(int)
        for head in heads:
            data = head.data
            earning = calculate_points(
                amount=data["amount"],
                store=data["store"],
                purchased_at=data["purchased_at"],
                lines=data["lines"],
                tier=tiers.get(tier_of.get(data["member_id"])),
                ruleset=ruleset,
            )
            if earning.points <= 0:
                continue
            points += earning.points
            purchases += 1
            for rule in earning.applied:
                if rule_points := rule.get("points"):
                    by_rule[rule.get("rule")] += int(rule_points)
        if not purchases:
            return {}
        return {"points": points, "purchases": purchases} | {f"rule:{key}": value for key, value in by_rule.items()}

    def applied_figures(self, outcomes: list[Outcome], *, job: ImportJob) -> dict[str, int]:
        """The points the batch credited for the chunk (`_post` leaves them on the chunk's first row)."""
        posted = sum(o.data.pop("posted_points", 0) for o in outcomes if isinstance(o.data, dict))
        return {"points": posted} if posted else {}

    def figure_rows(self, job: ImportJob) -> list[Figure]:
        ledger = reverse("admin:rewards_ledgerentry_changelist") + "?" + urlencode({"q": f"import:{job.pk}"})
        if job.status == ImportJob.Status.DONE or "applied_figures" in job.options:
            points = int(job.options.get("applied_figures", {}).get("points", 0))
            return [Figure(gettext("Points posted"), _number(points), ledger)]
        figures = job.options.get("figures") or {}
        if not figures:
            return []
        rows = [
            Figure(
                gettext("Points to be posted (at the members' tiers today)"),
                ngettext(
                    "%(points)s for %(count)s purchase",
                    "%(points)s for %(count)s purchases",
                    figures.get("purchases", 0),
                )
                % {"points": _number(figures.get("points", 0)), "count": _number(figures.get("purchases", 0))},
            )
        ]
        names = _rule_names([key.removeprefix("rule:") for key in figures if key.startswith("rule:")])
        for key, points in sorted(figures.items(), key=lambda item: -item[1]):
            if key.startswith("rule:"):
                rows.append(Figure(capfirst(names.get(key.removeprefix("rule:"), key)), _number(points)))
        return rows


def _number(value: int) -> str:
    return formats.number_format(value, force_grouping=True)


def _rule_names(keys: list[str]) -> dict[str, str]:
    """What each rule of the preview's figures is called: the kinds in words, earning rules by their name."""
    from ..models import EarningRule

    names = {
        "base": gettext("base rate"),
        "tier": gettext("tier multiplier"),
        "cap": gettext("cap per purchase"),
    }
    ids = [int(key) for key in keys if key.isdigit()]
    names |= {str(pk): name for pk, name in EarningRule.objects.filter(pk__in=ids).values_list("pk", "name")}
    return names
