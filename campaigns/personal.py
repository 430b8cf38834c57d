"""Personal fields and the sandboxed template syntax of messages.

A template may use only the offered fields, written `{{ first_name }}` or `{{ first_name|friend }}` (the
text after the bar is the fallback shown when the member has no value). Nothing else is a template: no tags,
no filters, no attribute access, so a message can never reach data or code we did not offer. `template_problems`
checks a template when it is saved; rendering compiles it once into literal text and fields.
"""

import html
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import lru_cache

from django.db.models import Min, Sum
from django.utils import formats, timezone
from django.utils.translation import get_language, gettext
from django.utils.translation import gettext_lazy as _

FIELDS = {
    "first_name": _("First name"),
    "balance": _("Points balance"),
    "tier": _("Tier"),
    "points_to_next_tier": _("Missing to the next tier"),
    "next_tier": _("Next tier"),
    "points_expiring": _("Points expiring within 30 days"),
    "points_expiring_date": _("When the first of those points expire"),
    "recommended_reward": _("A recommended reward"),
    "voucher_code": _("Voucher code"),
    "voucher_reward": _("The voucher's reward"),
    "voucher_valid_until": _("The voucher valid until"),
    "unsubscribe_url": _("Unsubscribe link (email)"),
}
# Fields whose values need queries beyond the member row; loaded only when a template uses them.
_STANDING = {"balance", "tier", "points_to_next_tier", "next_tier", "recommended_reward"}
_EXPIRING = {"points_expiring", "points_expiring_date"}
# The member's latest voucher still to use; a message about one voucher (a redemption's) names it in its context.
_VOUCHER = {"voucher_code", "voucher_reward", "voucher_valid_until"}

_URLS = {"unsubscribe_url", "track_base"}
_PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*(?:\|([^{}]*))?\}\}")
_ANY_TAG = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")


def template_problems(text: str) -> list[str]:
    """What is wrong with a template, in words for staff; empty when it may be saved."""
    problems: list[str] = []
    for match in _PLACEHOLDER.finditer(text):
        if match.group(1) not in FIELDS:
            problems.append(
                gettext("“%(field)s” is not a field we offer. Use one of: %(fields)s.")
                % {"field": match.group(1), "fields": ", ".join(FIELDS)}
            )
    leftover = _PLACEHOLDER.sub("", text)
    for match in _ANY_TAG.finditer(leftover):
        start = max(match.start() - 15, 0)
        problems.append(
            gettext("“%(text)s…” is not allowed: only fields such as {{ first_name|friend }} can be used.")
            % {"text": leftover[start : match.end() + 15]}
        )
    return problems


@dataclass(frozen=True)
class Compiled:
    parts: tuple[tuple[str, str | None, str], ...]  # (literal, field or None, fallback)
    fields: frozenset[str]  # offered fields only: what the values must hold

    def render(self, values: dict, *, escape: bool) -> str:
        out: list[str] = []
        for literal, field, fallback in self.parts:
            out.append(literal)
            if field is not None:
                value = values.get(field)
                text = fallback if value in (None, "") else str(value)
                out.append(html.escape(text) if escape and field not in _URLS else text)
        return "".join(out)


INTERNAL_FIELDS = {"track_base"}


def compile_template(text: str, *, internal: bool = False) -> Compiled:
    """Compile a checked template; `internal` also allows the fields the sender fills (tracking links)."""
    parts = []
    position = 0
    fields = set()
    for match in _PLACEHOLDER.finditer(text):
        field = match.group(1)
        if field not in FIELDS and not (internal and field in INTERNAL_FIELDS):
            raise ValueError(gettext("“%(field)s” is not a field we offer.") % {"field": field})
        parts.append((text[position : match.start()], field, (match.group(2) or "").strip()))
        fields.add(field)
        position = match.end()
    parts.append((text[position:], None, ""))
    return Compiled(tuple(parts), frozenset(fields - INTERNAL_FIELDS))


def _amount(value: Decimal | int) -> str:
    return _amount_in(value, get_language())


@lru_cache(maxsize=8192)
def _amount_in(value: Decimal | int, language: str | None) -> str:
    """Whole points in the reader's format; the same few thousand values come up in every batch."""
    return formats.number_format(value, decimal_pos=0, use_l10n=True, force_grouping=True)


def personal_values(members: Iterable, fields: set[str], *, now=None) -> dict[int, dict]:
    """Every member's values of `fields` in a constant number of queries (none for what is not used)."""
    from rewards.catalog import rewards_available
    from rewards.models import PointsAccount, PointsLot, Tier
    from rewards.planning import add_months
    from rewards.services import program_settings

    from .selectors import in_ids

    now = now or timezone.now()
    members = list(members)
    ids = [member.pk for member in members]
    of_members = in_ids("member_id", ids)
    values = {member.pk: {"first_name": member.first_name} for member in members}
    if fields & _STANDING:
        accounts = {
            row["member_id"]: row
            for row in PointsAccount.objects.filter(of_members).values(
                "member_id", "balance", "tier__name", "tier__rank"
            )
        }
        tiers = list(Tier.objects.order_by("rank"))
        # The portal's "recommended rewards" card's first choice (rewards.portal_catalog.recommended_card): the
        # dearest reward the member can afford now, else the cheapest one to aim for; ties by name.
        rewards = (
            list(rewards_available(at=now).order_by("points_cost", "name").values_list("name", "points_cost"))
            if "recommended_reward" in fields
            else []
        )
        progress: dict[tuple[str, int], Decimal] = {}
        if {"points_to_next_tier", "next_tier"} & fields and tiers:
            from members.models import Purchase
            from rewards.models import LedgerEntry

            since = add_months(now, -program_settings().tier_window_months)
            for basis in {tier.basis for tier in tiers}:
                if basis == Tier.Basis.POINTS:
                    rows = (
                        LedgerEntry.objects.filter(of_members, kind__in=["earn", "bonus"], created_at__gte=since)
                        .values("member_id")
                        .annotate(v=Sum("points"))
                    )
                else:
                    rows = (
                        Purchase.objects.filter(of_members, purchased_at__gte=since, purchased_at__lte=now)
                        .values("member_id")
                        .annotate(v=Sum("amount") - Sum("refunded_amount"))
                    )
                for row in rows:
                    progress[(basis, row["member_id"])] = Decimal(row["v"] or 0)
        for member_id in ids:
            account = accounts.get(member_id, {})
            balance = account.get("balance", 0)
            rank = account.get("tier__rank")
            entry = values[member_id]
            entry["balance"] = _amount(balance)
            entry["tier"] = account.get("tier__name") or ""
            next_tier = next((t for t in tiers if t.rank > (rank if rank is not None else -1)), None)
            if next_tier is not None:
                missing = max(next_tier.threshold - progress.get((next_tier.basis, member_id), Decimal(0)), Decimal(0))
                entry["points_to_next_tier"] = _amount(missing.to_integral_value())
                entry["next_tier"] = next_tier.name
            entry["recommended_reward"] = _recommended(rewards, balance)
    if fields & _EXPIRING:
        rows = (
            PointsLot.objects.filter(
                of_members,
                remaining__gt=0,
                expires_at__isnull=False,
                expires_at__lte=now + timedelta(days=30),
            )
            .values("member_id")
            .annotate(points=Sum("remaining"), first=Min("expires_at"))
        )
        for row in rows:
            values[row["member_id"]]["points_expiring"] = _amount(row["points"])
            values[row["member_id"]]["points_expiring_date"] = formats.date_format(
                timezone.localtime(row["first"]), "SHORT_DATE_FORMAT"
            )
    if fields & _VOUCHER:
        from rewards.models import Voucher

        rows = (
            Voucher.objects.filter(of_members, status=Voucher.Status.ISSUED, expires_at__gt=now)
            .order_by("member_id", "-issued_at", "-id")
            .values_list("member_id", "code", "reward__name", "expires_at")
        )
        for member_id, code, reward, expires_at in rows:
            entry = values[member_id]
            if "voucher_code" not in entry:
                entry["voucher_code"] = code
                entry["voucher_reward"] = reward
                entry["voucher_valid_until"] = formats.date_format(timezone.localtime(expires_at), "SHORT_DATE_FORMAT")
    return values


def _recommended(rewards: list[tuple[str, int]], balance: int) -> str:
    """From (name, cost) sorted by cost then name: the dearest affordable (first by name among equals), else
    the cheapest."""
    if not rewards:
        return ""
    affordable = [reward for reward in rewards if reward[1] <= balance]
    if not affordable:
        return rewards[0][0]
    top = affordable[-1][1]
    return next(name for name, cost in affordable if cost == top)
