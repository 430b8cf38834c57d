"""Finding a chunk's members by member number, card, email or phone, one query per kind of key."""

import contextlib
from collections import defaultdict

from django.utils.translation import gettext, ngettext

from loyalty_site.db import any_of
from loyalty_site.files.importing import Outcome, Row
from members.models import LoyaltyCard, Member
from members.resources import normalise_phone

from ..planning import member_refusal


class MemberMatcher:
    """Finds the members of a chunk by member number, card, email or phone with one query per kind of key."""

    def __init__(self, rows: list[Row]):
        def values(column):
            return {row.values.get(column, "") for row in rows} - {""}

        active = Member.objects.filter(status=Member.Status.ACTIVE)
        self.by_number = {}
        # A number of a member who is not active: refused in the words every path uses (rewards.planning).
        self.inactive_by_number: dict[str, tuple[int, str]] = {}
        # balance + pending of the members found by number, read in the same query for PointsCeiling (most
        # files name members by number; the others' accounts are read when the ceiling needs them).
        self.held: dict[int, int] = {}
        numbers = sorted(values("member_number"))
        for numbered in any_of(Member.objects.all(), "member_number", numbers) if numbers else ():
            for number, pk, status, balance, pending in numbered.values_list(
                "member_number", "pk", "status", "points_account__balance", "points_account__pending"
            ):
                if status == Member.Status.ACTIVE:
                    self.by_number[number] = pk
                    self.held[pk] = (balance or 0) + (pending or 0)
                else:
                    self.inactive_by_number[number] = (pk, status)
        self.by_card = dict(
            LoyaltyCard.objects.filter(
                number__in=values("card_number"), is_active=True, member__status="active"
            ).values_list("number", "member_id")
        )
        emails = {e.lower() for e in values("email")}
        self.by_email: dict[str, list[int]] = defaultdict(list)
        for email, pk in active.filter(email__in=emails).values_list("email", "pk"):
            self.by_email[email].append(pk)
        phones = set()
        for phone in values("phone"):
            with contextlib.suppress(ValueError):
                phones.add(normalise_phone(phone))
        self.by_phone: dict[str, list[int]] = defaultdict(list)
        for phone, pk in active.filter(phone__in=phones).values_list("phone", "pk"):
            self.by_phone[phone].append(pk)

    def match(self, values: dict[str, str], outcome: Outcome) -> int | None:
        # The member number is looked at first; found, it is the answer (most files give only it).
        found = self.by_number.get(values.get("member_number", ""))
        if found is not None:
            return found
        keys = [(c, values.get(c, "")) for c in ("member_number", "card_number", "email", "phone")]
        if not any(v for _column, v in keys):
            outcome.fail("member_number", "", gettext("is empty: give member_number, card_number, email or phone"))
            return None
        for column, value in keys:
            if not value:
                continue
            if column == "member_number":
                found = [self.by_number[value]] if value in self.by_number else []
            elif column == "card_number":
                found = [self.by_card[value]] if value in self.by_card else []
            elif column == "email":
                found = self.by_email.get(value.lower(), [])
            else:
                try:
                    found = self.by_phone.get(normalise_phone(value), [])
                except ValueError as exc:
                    outcome.fail(column, value, str(exc))
                    return None
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                outcome.fail(
                    column,
                    value,
                    ngettext(
                        "%(count)d member shares '%(value)s'; use the member number",
                        "%(count)d members share '%(value)s'; use the member number",
                        len(found),
                    )
                    % {"count": len(found), "value": value},
                )
                return None
        column, value = next((c, v) for c, v in keys if v)
        if column == "member_number" and value in self.inactive_by_number:
            pk, status = self.inactive_by_number[value]
            outcome.fail(column, value, member_refusal(pk, status, value))
            return None
        outcome.fail(
            column, value, gettext("no active member with %(column)s '%(value)s'") % {"column": column, "value": value}
        )
        return None
