"""The preview's bound on the points a purchase could earn: a purchase whose bound would not fit the
ledger's columns or the member's account is refused before the batch meets it."""

from decimal import Decimal

from django.utils import formats
from django.utils.translation import gettext

from loyalty_site.db import any_of
from loyalty_site.files.importing import Outcome
from loyalty_site.values import integer_range

from ..config import programme_config
from ..models import LedgerEntry, PointsAccount
from .cells import _field


class PointsCeiling:
    """The most points a purchase could earn under the programme's rules, and the most a member's account holds.

    The points themselves are worked out by the batch, with the member's tier at that moment; the preview needs
    only a bound: every multiplier that might apply (the highest tier's and all multiplier rules, which stack
    additively, see rewards.earning) and every bonus. A purchase whose bound does not fit the ledger's columns
    is refused, so the batch never meets a number the database refuses."""

    def __init__(self):
        config = programme_config()
        ruleset = config.ruleset
        factor = max([Decimal(1), *(tier.earn_multiplier for tier in config.tiers)])
        factor += sum((max(rule.multiplier - 1, 0) for rule in ruleset.rules if rule.kind == "multiplier"), Decimal(0))
        self.rate = ruleset.base_rate * factor
        self.bonus = sum(rule.bonus_points for rule in ruleset.rules if rule.kind == "bonus")
        self.cap = ruleset.cap
        self.limit = min(
            integer_range(_field(LedgerEntry, "points"))[1],
            integer_range(_field(PointsAccount, "balance"))[1],
            integer_range(_field(PointsAccount, "pending"))[1],
        )

    def points(self, amount: Decimal) -> int:
        bound = int(amount * self.rate) + 1 + self.bonus
        return bound if self.cap is None else min(bound, self.cap)

    def refuse(self, groups: list[list[Outcome]], held: dict[int, int]) -> None:
        """Refuse the purchases whose points might not fit: alone, or added to the member's account and to the
        member's earlier purchases in the chunk. `held`: balance + pending by member id, as far as the chunk's
        member lookup read them (MemberMatcher.held); the accounts of the other members are read here."""
        heads = [g[0] for g in groups if g[0].action == "new" and g[0].data["amount"] is not None]
        if not heads:
            return
        held = dict(held)
        if missing := {head.data["member_id"] for head in heads} - held.keys():
            for accounts in any_of(PointsAccount.objects.all(), "member_id", sorted(missing)):
                held.update(
                    (member_id, balance + pending)
                    for member_id, balance, pending in accounts.values_list("member_id", "balance", "pending")
                )
        for head in heads:
            bound = self.points(head.data["amount"])
            member_id = head.data["member_id"]
            total = held.get(member_id, 0) + bound
            if bound > self.limit or total > self.limit:
                head.fail(
                    "amount",
                    str(head.data["amount"]),
                    gettext("'%(value)s' is too large: the points it could earn would not fit in the member's account")
                    % {"value": formats.number_format(head.data["amount"], 2)},
                )
            else:
                held[member_id] = total
