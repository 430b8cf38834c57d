"""Co-branded points awards: a partner's promotion gives points to a list of members (a CSV or XLSX file of card
numbers, member numbers or emails with points) or to one member, through `partners.partner_points_award`.

Staff name the promotion with a short code. Each member gets its points once per (partner, promotion): the
ledger key is `partner:<partner code>:<promotion>:<member id>`, unique in the ledger, so uploading the file
again, a corrected file, or confirming twice (a double click) awards nobody twice; the second time those
members are counted as "already awarded". A list is first checked whole (`partner_award_plan`, which writes
nothing) and then posted whole (`partner_awards_post`, one transaction): a member who can no longer take the
points when it is posted (suspended meanwhile) stops it, and nobody gets anything.
"""

import re
from collections import Counter
from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils.translation import gettext, ngettext, pgettext

from loyalty_site.files.tabular import FileFormatError, read_table
from members.models import LoyaltyCard, Member

from .models import LedgerEntry, Partner
from .partners import partner_points_award
from .services import PointsError
from .services.accounts import account_lock
from .services.points import MAX_ADJUSTMENT

# Rows one upload may hold: a list is posted in the web request, in one transaction (about 8 ms of CPU a member
# through the ledger service: 2,000 took 15 s of CPU on the test machine, so 1,000 is about 8 s).
MAX_ROWS = 1000
IDENTIFIER_COLUMNS = ("card_number", "member_number", "email")
COLUMNS = (*IDENTIFIER_COLUMNS, "points")
_WHOLE = re.compile(r"^\d+$")


def award_key(*, promotion: str, member_id: int) -> str:
    """The key given to `partner_points_award` (which prefixes `partner:<code>:`)."""
    return f"{promotion}:{member_id}"


def ledger_key(*, partner: Partner, promotion: str, member_id: int) -> str:
    return f"partner:{partner.code}:{award_key(promotion=promotion, member_id=member_id)}"[:120]


@dataclass
class AwardLine:
    line: int  # the file's line (1 for a single member typed in the form)
    identifier: str  # as written: the card, member number or email
    points: int = 0
    member: Member | None = None
    already: bool = False  # this member got this promotion's points before: skipped
    errors: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.errors:
            return "invalid"
        return "already" if self.already else "new"


@dataclass
class AwardPlan:
    lines: list[AwardLine]

    @property
    def new(self) -> list[AwardLine]:
        return [line for line in self.lines if line.status == "new"]

    @property
    def invalid(self) -> list[AwardLine]:
        return [line for line in self.lines if line.errors]

    @property
    def already(self) -> list[AwardLine]:
        return [line for line in self.lines if line.status == "already"]

    @property
    def points(self) -> int:
        return sum(line.points for line in self.new)

    def to_payload(self) -> list[list[int]]:
        """What the confirmation carries (signed): line, member id and points of each member to award."""
        return [[line.line, line.member.pk, line.points] for line in self.new]


@dataclass(frozen=True)
class AwardResult:
    awarded: int  # members who got points now
    already: int  # members who had this promotion's points before (a re-upload, a double click)
    points: int  # points posted now


class AwardRefused(Exception):
    pass


def award_rows_read(*, stream, filename: str) -> list[tuple[int, dict[str, str]]]:
    """The rows of an uploaded CSV or XLSX (read by the import engine's reader: Polish encodings, `;` or `,`),
    as (line, cells by column). A file that cannot be used raises FileFormatError with a message."""
    table = read_table(stream, filename)
    headers = [header.strip().lower() for header in table.headers]
    unknown = [header for header in headers if header and header not in COLUMNS]
    if unknown:
        raise FileFormatError(
            ngettext(
                "Line 1: unknown column %(columns)s. Allowed: %(allowed)s.",
                "Line 1: unknown columns %(columns)s. Allowed: %(allowed)s.",
                len(unknown),
            )
            % {"columns": ", ".join(unknown[:10]), "allowed": ", ".join(COLUMNS)}
        )
    if "points" not in headers or not set(headers) & set(IDENTIFIER_COLUMNS):
        raise FileFormatError(
            gettext(
                "Line 1: the file needs a column points and at least one of card_number, member_number, email. "
                "The file has: %(found)s."
            )
            % {"found": ", ".join(h for h in headers if h) or pgettext("columns in the file", "none")}
        )
    rows = []
    for line, cells in table.numbered_rows:
        if not any(cell.strip() for cell in cells):
            continue
        rows.append((line, {name: (cells[i] if i < len(cells) else "").strip() for i, name in enumerate(headers)}))
        if len(rows) > MAX_ROWS:
            raise FileFormatError(
                gettext("The file has more than %(max)d members: split it into smaller files.") % {"max": MAX_ROWS}
            )
    if not rows:
        raise FileFormatError(gettext("The file has no rows under its header."))
    return rows


def points_problem(text: str) -> tuple[int, str]:
    """(points, "") for a whole number from 1 to the adjustment cap, or (0, the problem)."""
    cleaned = text.replace("\xa0", "").replace(" ", "")
    if not cleaned:
        return 0, gettext("points: is empty")
    if not _WHOLE.match(cleaned) or int(cleaned) < 1:
        return 0, gettext("points: '%(value)s' is not a whole number greater than zero") % {"value": text}
    if int(cleaned) > MAX_ADJUSTMENT:
        return 0, gettext("points: at most %(max)d at a time") % {"max": MAX_ADJUSTMENT}
    return int(cleaned), ""


def partner_award_plan(*, partner: Partner, promotion: str, rows: list[tuple[int, dict[str, str]]]) -> AwardPlan:
    """Who would get how many points, checked whole; writes nothing. A fixed number of queries."""
    cards = {values.get("card_number", "") for _line, values in rows} - {""}
    numbers = {values.get("member_number", "") for _line, values in rows} - {""}
    emails = {values.get("email", "").lower() for _line, values in rows} - {""}
    by_card = dict(LoyaltyCard.objects.filter(number__in=cards).values_list("number", "member_id"))
    by_number = dict(Member.objects.filter(member_number__in=numbers).values_list("member_number", "pk"))
    email_ids: dict[str, list[int]] = {}
    for email, pk in (
        Member.objects.filter(email__in=emails).exclude(status=Member.Status.ERASED).values_list("email", "pk")
    ):
        email_ids.setdefault(email, []).append(pk)
    ids = {*by_card.values(), *by_number.values(), *(pk for pks in email_ids.values() for pk in pks)}
    members = {member.pk: member for member in Member.objects.filter(pk__in=ids).select_related("merged_into")}

    lines = []
    for line, values in rows:
        lines.append(_plan_line(line, values, by_card, by_number, email_ids, members))
    _mark_repeated_and_awarded(lines, partner=partner, promotion=promotion)
    return AwardPlan(lines=lines)


def _plan_line(line, values, by_card, by_number, email_ids, members) -> AwardLine:
    identifier = next((values[name] for name in IDENTIFIER_COLUMNS if values.get(name)), "")
    points, problem = points_problem(values.get("points", ""))
    award = AwardLine(line=line, identifier=identifier, points=points)
    if problem:
        award.errors.append(problem)
    found: set[Member] = set()  # the members the row's identifiers name (after merges)
    erased = False
    if card := values.get("card_number"):
        if card in by_card:
            member = _surviving(members.get(by_card[card]))
            if member is None:
                erased = True
            else:
                found.add(member)
        else:
            award.errors.append(gettext("no member has the card %(card)s") % {"card": card})
    if number := values.get("member_number"):
        if number in by_number:
            member = _surviving(members.get(by_number[number]))
            if member is None:
                erased = True
            else:
                found.add(member)
        else:
            award.errors.append(gettext("no member has the number %(number)s") % {"number": number})
    if email := values.get("email", "").lower():
        # Two records with one email are one person when one was merged into the other.
        owners = {_surviving(members.get(pk)) for pk in email_ids.get(email, [])} - {None}
        if len(owners) > 1:
            award.errors.append(
                gettext("%(email)s belongs to more than one member: give the card or member number") % {"email": email}
            )
        elif owners:
            found |= owners
        else:
            award.errors.append(gettext("no member has the email %(email)s") % {"email": email})
    if not identifier:
        award.errors.append(gettext("give the card number, member number or email"))
    if erased:
        award.errors.append(gettext("the member of this row was erased (GDPR)"))
    if len(found) > 1:
        award.errors.append(gettext("the card, number and email of this row belong to different members"))
    elif found:
        member = found.pop()
        award.member = member
        if member.status != Member.Status.ACTIVE:
            award.errors.append(
                gettext("member %(number)s is not active (%(status)s)")
                % {"number": member.member_number, "status": member.get_status_display()}
            )
    return award


def _surviving(member: Member | None) -> Member | None:
    """A merged member's points go to the member they were merged into; an erased member is nobody."""
    if member is None or member.status == Member.Status.ERASED:
        return None
    if member.status == Member.Status.MERGED and member.merged_into is not None:
        return member.merged_into
    return member


def _mark_repeated_and_awarded(lines: list[AwardLine], *, partner: Partner, promotion: str) -> None:
    first_line: dict[int, int] = {}
    for award in lines:
        if award.member is None:
            continue
        if award.member.pk in first_line:
            award.errors.append(
                gettext("the same member as line %(line)d: one award per member")
                % {"line": first_line[award.member.pk]}
            )
        else:
            first_line[award.member.pk] = award.line
    keys = {ledger_key(partner=partner, promotion=promotion, member_id=pk): pk for pk in first_line}
    awarded = {
        keys[key]
        for key in LedgerEntry.objects.filter(idempotency_key__in=list(keys)).values_list("idempotency_key", flat=True)
    }
    for award in lines:
        if award.member is not None and award.member.pk in awarded and not award.errors:
            award.already = True


def partner_awards_post(
    *,
    partner: Partner,
    promotion: str,
    reason: str,
    awards: list[list[int]],
    actor: AbstractBaseUser | None = None,
) -> AwardResult:
    """Post a checked plan (`AwardPlan.to_payload()`: line, member id, points) in one transaction: all of it or,
    when a member can no longer take points, none of it (AwardRefused names every refused line). A member who
    already has this promotion's points gets nothing more and is counted as already awarded.

    Members are taken in the order of their ids, each account locked before its key is looked up: every
    writer of points holds that lock, so what is counted as awarded now is exact even when the same list is
    confirmed twice at once, and two lists locking the same accounts cannot deadlock."""
    if not partner.is_active:
        raise AwardRefused([gettext("%(partner)s is not an active partner.") % {"partner": partner.name}])
    members = Member.objects.in_bulk([member_id for _line, member_id, _points in awards])
    counts: Counter = Counter()
    refused: list[tuple[int, str]] = []
    with transaction.atomic():
        for line, member_id, points in sorted(awards, key=lambda award: award[1]):
            member = members.get(member_id)
            if member is None:
                refused.append((line, gettext("line %(line)d: the member no longer exists") % {"line": line}))
                continue
            account_lock(member=member)
            key = ledger_key(partner=partner, promotion=promotion, member_id=member.pk)
            if LedgerEntry.objects.filter(idempotency_key=key).exists():
                counts["already"] += 1
                continue
            try:
                partner_points_award(
                    partner=partner,
                    member=member,
                    points=points,
                    reason=reason,
                    idempotency_key=award_key(promotion=promotion, member_id=member.pk),
                    actor=actor,
                )
            except PointsError as exc:
                problem = gettext("line %(line)d (member %(number)s): %(problem)s") % {
                    "line": line,
                    "number": member.member_number,
                    "problem": exc,
                }
                refused.append((line, problem))
                continue
            counts["awarded"] += 1
            counts["points"] += points
        if refused:
            transaction.set_rollback(True)
    if refused:
        raise AwardRefused([message for _line, message in sorted(refused)])
    return AwardResult(awarded=counts["awarded"], already=counts["already"], points=counts["points"])
