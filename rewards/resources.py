"""Imports that move points: purchases (with optional line items), refunds and points adjustments.

Purchases are matched on (source, purchase id) and posted through `purchases_post_batch`, so the earning
rules apply and a re-uploaded file posts nothing twice. A purchase with line items is written as one row
per line with the purchase columns repeated; its rows must be consecutive. Or the lines come as a second
file (`PurchaseImport.lines_columns`), read whole before the purchases and joined to them by (source,
purchase id), so the earning rules see the same lines either way.
"""

import contextlib
import functools
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Q
from django.utils import formats, timezone
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty_site.db import any_of
from loyalty_site.files.importing import Column, ImportHandler, Outcome, Row, register, row_problems
from loyalty_site.files.models import ImportJob
from loyalty_site.files.tabular import parse_datetime, parse_decimal
from loyalty_site.values import date_problem, decimal_problem, decimal_too_large, integer_range, too_long
from members.models import LoyaltyCard, Member, Purchase, PurchaseLine, Refund
from members.resources import normalise_phone
from members.services import LineData, MemberError

from .batch import PurchaseRow, purchases_post_batch, recorded_purchases
from .config import programme_config
from .models import LedgerEntry, PointsAccount
from .planning import line_problems, member_refusal, purchase_problems
from .services import PointsError, adjustment_problem, points_adjust, refund_post

ROUND_CHUNK = 5000  # rows per transaction when a round is posted in processes

KEY = re.compile(r"^[0-9A-Za-z_\-./]{1,64}$")
WHOLE_NUMBER = re.compile(r"^[+-]?[0-9]+$")
LINE_COLUMNS = ("sku", "product_name", "category", "line_amount")  # a row with one of them filled has a line


@functools.cache
def _field(model, name: str):
    return model._meta.get_field(name)


@functools.cache
def _amount_limit(field) -> Decimal:
    """The first amount too large for the decimal column `field` (decimal_problem's bound, looked up once)."""
    return Decimal(10) ** (field.max_digits - field.decimal_places)


def _key_problem() -> str:
    """What is wrong with an id that KEY refuses."""
    return ngettext(
        "may hold only letters, digits and - _ . / (at most %(limit)d character)",
        "may hold only letters, digits and - _ . / (at most %(limit)d characters)",
        64,
    ) % {"limit": 64}


class _Clock:
    """The current time zone and "now", looked up once per chunk: per row they were a tenth of the import."""

    def __init__(self):
        self.zone = timezone.get_current_timezone()
        self.latest = timezone.now() + timedelta(minutes=5)

    def aware(self, value: datetime) -> datetime:
        # What timezone.make_aware does for a zoneinfo zone.
        return value.replace(tzinfo=self.zone) if value.tzinfo is None else value


def _parse_when(
    outcome: Outcome, column: str, text: str, *, required: bool, clock: _Clock | None = None
) -> datetime | None:
    if not text:
        if required:
            outcome.fail(column, "", gettext("is empty"))
        return None
    clock = clock or _Clock()
    try:
        moment = parse_datetime(text)
    except ValueError as exc:
        outcome.fail(column, text, str(exc))
        return None
    if problem := date_problem(moment, text):
        outcome.fail(column, text, problem)
        return None
    when = clock.aware(moment)
    if when > clock.latest:
        outcome.fail(column, text, gettext("'%(value)s' is in the future") % {"value": text})
    return when


def _parse_amount(
    outcome: Outcome, column: str, text: str, field, *, positive: bool = False, signed: bool = False
) -> Decimal | None:
    """An amount in PLN that `field` (the model field it is written to) holds. `signed`: a negative amount is
    read, for rewards.planning to refuse in the words every path uses."""
    if not text:
        outcome.fail(column, "", gettext("is empty"))
        return None
    try:
        amount = parse_decimal(text, places=field.decimal_places)
    except ValueError as exc:
        outcome.fail(column, text, str(exc))
        return None
    except ArithmeticError:  # more digits than decimal arithmetic carries
        outcome.fail(column, text, decimal_too_large(field, text))
        return None
    # parse_decimal kept the column's decimal places (or refused the text): only the size is left to check,
    # as decimal_problem does, with the bound looked up once per column.
    if abs(amount) >= _amount_limit(field):
        outcome.fail(column, text, decimal_too_large(field, text))
        return None
    if positive and amount <= 0:
        outcome.fail(column, text, gettext("'%(value)s' must be greater than zero") % {"value": text})
    elif amount < 0 and not signed:
        outcome.fail(column, text, gettext("'%(value)s' must be zero or more") % {"value": text})
    return amount


class _PointsCeiling:
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
            held.update(
                (member_id, balance + pending)
                for member_id, balance, pending in PointsAccount.objects.filter(member_id__in=missing).values_list(
                    "member_id", "balance", "pending"
                )
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


class MemberMatcher:
    """Finds the members of a chunk by member number, card, email or phone with one query per kind of key."""

    def __init__(self, rows: list[Row]):
        def values(column):
            return {row.values.get(column, "") for row in rows} - {""}

        active = Member.objects.filter(status=Member.Status.ACTIVE)
        self.by_number = {}
        # A number of a member who is not active: refused in the words every path uses (rewards.planning).
        self.inactive_by_number: dict[str, tuple[int, str]] = {}
        # balance + pending of the members found by number, read in the same query for _PointsCeiling (most
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


class PurchaseImport(ImportHandler):
    kind = "purchases"
    label = _("Purchases (points are posted)")
    permission = "members.add_purchase"
    columns = [
        Column(
            "purchase_id",
            required=True,
            help=_("The receipt or order number: the key rows are matched on."),
            example="PAR-2026-000123",
        ),
        Column("source", help=_("The system it comes from; the upload form's value when empty."), example="pos"),
        Column(
            "member_number",
            help=_("Who bought: member number, card, email or phone (one is enough)."),
            example="1000000001",
        ),
        Column("card_number", example=""),
        Column("email", example=""),
        Column("phone", example=""),
        Column(
            "purchased_at", required=True, help=_("2026-03-01 14:30 or 01.03.2026 14:30"), example="01.03.2026 14:30"
        ),
        Column("amount", required=True, help=_("Total in PLN: 123.45 or 123,45"), example="249,90"),
        Column("store", help=_("'online' or a store code"), example="store-01"),
        Column("sku", help=_("Line item (optional): one row per line, purchase columns repeated."), example="K-100"),
        Column("product_name", example="Krem nawilżający"),
        Column("category", example="Kosmetyki"),
        Column("quantity", example="1"),
        Column("line_amount", help=_("The line's amount in PLN."), example="249,90"),
    ]

    lines_columns = [
        Column(
            "purchase_id",
            required=True,
            help=_("The purchase the line belongs to, as in the purchases file."),
            example="PAR-2026-000123",
        ),
        Column("source", help=_("The purchase's source; the upload form's value when empty."), example="pos"),
        Column("sku", required=True, help=_("The product's code."), example="K-100"),
        Column("product_name", example="Krem nawilżający"),
        Column("category", help=_("Earning rules and exclusions by category use it."), example="Kosmetyki"),
        Column("quantity", help=_("1 when empty."), example="1"),
        Column("line_amount", required=True, help=_("The line's amount in PLN."), example="249,90"),
    ]

    @staticmethod
    def group_key(row: Row) -> str:
        return row.values.get("purchase_id", "")

    def read_lines(self, rows: Iterable[Row], *, job: ImportJob) -> "_LinesFile":
        """The whole lines file by (source, purchase id): each row's line number and its line, or its errors."""
        default_source = job.options.get("source") or "import"
        lines = _LinesFile()
        for row in rows:
            values = row.values
            outcome = Outcome(line=row.line, action="line")
            # The engine fails the purchases file's refused cells itself; the lines file's rows are only seen here.
            row_problems(values, outcome)
            if extra := values.pop("__extra__", None):
                outcome.fail("", "", gettext("the row has more cells than the header (%(extra)s)") % {"extra": extra})
            external_id = values.get("purchase_id", "")
            if not external_id:
                outcome.fail("purchase_id", "", gettext("is empty"))
            elif not KEY.match(external_id):
                outcome.fail("purchase_id", external_id, _key_problem())
            if not any(values.get(c) for c in ("sku", "product_name", "category", "line_amount")):
                outcome.fail("sku", "", gettext("is empty"))
                outcome.fail("line_amount", "", gettext("is empty"))
            line = self._line(values, outcome)
            errors = [(_in_lines_file(column), value, message) for column, value, message in outcome.errors]
            if outcome.action == "invalid" and (not external_id or not KEY.match(external_id)):
                lines.loose.append(Outcome(line=row.line, action="invalid", errors=errors))
                continue
            key = (values.get("source") or default_source, external_id)
            lines.add(key, row.line, line, errors)
        return lines

    @staticmethod
    def unclaimed_lines(lines: "_LinesFile") -> list[Outcome]:
        """The lines file's rows whose purchase is not in the purchases file (and those without a purchase)."""
        outcomes = lines.loose
        lines.loose = []
        for (source, external_id), entries in lines.by_key.items():
            for number, _line, errors in map(lines.unpack, entries):
                outcome = Outcome(line=number, action="invalid", errors=errors or [])
                outcome.fail(
                    _in_lines_file("purchase_id"),
                    external_id,
                    gettext("no purchase '%(purchase)s' from source '%(source)s' in the purchases file")
                    % {"purchase": external_id, "source": source},
                )
                outcomes.append(outcome)
        lines.by_key = {}
        outcomes.sort(key=lambda outcome: outcome.line)
        return outcomes

    def prepare(
        self, rows: list[Row], *, job: ImportJob, seen: set, lines: "_LinesFile | None" = None
    ) -> list[Outcome]:
        default_source = job.options.get("source") or "import"
        matcher = MemberMatcher(rows)
        clock = _Clock()
        keys = {(row.values.get("source") or default_source, row.values.get("purchase_id", "")) for row in rows}
        recorded: dict[tuple[str, str], tuple[int, str]] = {}  # key -> the member it is recorded for
        by_source = defaultdict(set)
        for source, external_id in keys:
            by_source[source].add(external_id)
        for source, ids in by_source.items():
            for queryset in any_of(Purchase.objects.filter(source=source), "external_id", sorted(ids - {""})):
                recorded |= {
                    (source, e): (member_pk, number)
                    for e, member_pk, number in queryset.values_list(
                        "external_id", "member_id", "member__member_number"
                    )
                }
        outcomes: list[Outcome] = []
        groups: list[list[Outcome]] = []
        own_lines: set[int] = set()  # the groups with line columns filled in the purchases file
        previous_key = None
        for row in rows:
            values = row.values
            outcome = Outcome(line=row.line, action="new")
            if extra := values.pop("__extra__", None):
                outcome.fail("", "", gettext("the row has more cells than the header (%(extra)s)") % {"extra": extra})
            external_id = values.get("purchase_id", "")
            source = values.get("source") or default_source
            key = (source, external_id)
            if not external_id:
                outcome.fail("purchase_id", "", gettext("is empty"))
            elif not KEY.match(external_id):
                outcome.fail("purchase_id", external_id, _key_problem())
            has_line = any(values.get(c) for c in LINE_COLUMNS)
            line = self._line(values, outcome, has_line=has_line)
            if key == previous_key and groups and line is not None:
                outcome.action = "line"
                groups[-1].append(outcome)
                own_lines.add(len(groups) - 1)
                outcome.data = {"line": line}
                outcomes.append(outcome)
                continue
            previous_key = key
            if external_id and key in seen:
                outcome.fail(
                    "purchase_id", external_id, gettext("appears again after other purchases: keep its rows together")
                )
            seen.add(key)
            member_id = matcher.match(values, outcome)
            purchased_at = _parse_when(
                outcome, "purchased_at", values.get("purchased_at", ""), required=True, clock=clock
            )
            amount = _parse_amount(outcome, "amount", values.get("amount", ""), _field(Purchase, "amount"), signed=True)
            store = values.get("store") or "online"
            owner = recorded.get(key)
            if owner is not None and outcome.action != "invalid" and member_id in (None, owner[0]):
                outcome.action = "skip"
            outcome.data = {
                "row": None,
                "member_id": member_id,
                "source": source,
                "external_id": external_id,
                "amount": amount,
                "purchased_at": purchased_at,
                "store": store,
                "lines": [line] if line else [],
                # The same purchase id for someone else is a mistake in the file, not a repeat upload.
                "recorded_for": owner,
            }
            if has_line:
                own_lines.add(len(groups))
            groups.append([outcome])
            outcomes.append(outcome)
        from_lines_file: list[Outcome] = []  # returned after the chunk's own rows
        lines_file = lines if lines is not None else _NoLines
        _PointsCeiling().refuse(groups, matcher.held)
        for index, group in enumerate(groups):
            head = group[0]
            head.data["lines"].extend(o.data["line"] for o in group[1:] if o.data.get("line"))
            entries = lines_file.claim((head.data["source"], head.data["external_id"]))
            joined = self._join(head, entries, index in own_lines)
            from_lines_file.extend(joined)
            if head.action != "skip":
                self._check(head)
            bad = next((o for o in group if o.action == "invalid"), None)
            bad_line = next((o for o in joined if o.action == "invalid"), None)
            external_id = head.data.get("external_id", "")
            if bad is not None:
                message = gettext("not imported: line %(line)d of this purchase has errors") % {"line": bad.line}
                _spoil(group, "purchase_id", external_id, message)
                message = gettext("not imported: its purchase (line %(line)d of the purchases file) has errors")
                _spoil(joined, _in_lines_file("purchase_id"), external_id, message % {"line": bad.line})
            elif bad_line is not None:
                message = gettext("not imported: line %(line)d of the lines file has errors") % {"line": bad_line.line}
                _spoil(group, "purchase_id", external_id, message)
                _spoil(joined, _in_lines_file("purchase_id"), external_id, message)
            elif head.action == "skip":
                for other in [*group[1:], *joined]:
                    other.action = "skip"
        return outcomes + from_lines_file

    @staticmethod
    def _check(head: Outcome) -> None:
        """What rewards.planning.purchase_problems refuses, in its words, unless the column was refused already
        while it was read (a line's own problems are on the line's row: `_line`)."""
        data = head.data
        problems = purchase_problems(
            source=data["source"],
            external_id=data["external_id"],
            amount=data["amount"],
            store=data["store"],
            lines=data["lines"],
            member_id=data["member_id"],
            recorded_for=data.pop("recorded_for"),
        )
        for problem in problems:
            column = _PROBLEM_COLUMNS[problem.about]
            if problem.line is None and not any(error[0] == column for error in head.errors):
                head.fail(column, problem.value, problem.message)

    @staticmethod
    def _join(head: Outcome, entries: list, own_lines: bool) -> list[Outcome]:
        """The purchase's rows of the lines file as outcomes; their valid lines added to the purchase."""
        joined = []
        for number, line, errors in entries:
            outcome = Outcome(line=number, action="line")
            for error in errors or ():
                outcome.fail(*error)
            if line is not None and outcome.action != "invalid":
                head.data["lines"].append(line)
            joined.append(outcome)
        if entries and own_lines:
            head.fail(
                "sku",
                head.data.get("external_id", ""),
                gettext(
                    "lines given in both files: give a purchase's lines in the purchases file or in the lines file"
                ),
            )
        return joined

    @staticmethod
    def _line(values: dict[str, str], outcome: Outcome, *, has_line: bool | None = None) -> LineData | None:
        """The row's line, or None without one (`has_line`: whether a line column is filled, when known)."""
        if not (any(values.get(c) for c in LINE_COLUMNS) if has_line is None else has_line):
            return None
        sku = values.get("sku", "")
        if not sku:
            outcome.fail("sku", "", gettext("is empty while other line columns are filled"))
        amount = _parse_amount(
            outcome, "line_amount", values.get("line_amount", ""), _field(PurchaseLine, "amount"), signed=True
        )
        # Refused when too long, as the batch refuses them: a cut name or category would earn by other rules.
        for problem in line_problems(
            sku=sku, product_name=values.get("product_name", ""), category=values.get("category", ""), amount=amount
        ):
            outcome.fail("line_amount" if problem.about == "amount" else problem.about, problem.value, problem.message)
        quantity = Decimal("1")
        if text := values.get("quantity"):
            field = _field(PurchaseLine, "quantity")
            try:
                quantity = parse_decimal(text, places=field.decimal_places)
                if quantity <= 0:
                    raise ValueError(gettext("'%(value)s' must be greater than zero") % {"value": text})
                if problem := decimal_problem(field, quantity, text):
                    raise ValueError(problem)
            except ValueError as exc:
                outcome.fail("quantity", text, str(exc))
            except ArithmeticError:  # more digits than decimal arithmetic carries
                outcome.fail("quantity", text, decimal_too_large(field, text))
        if amount is None or outcome.action == "invalid":
            return None
        return LineData(
            sku=sku,
            product_name=values.get("product_name", ""),
            category=values.get("category", ""),
            quantity=quantity,
            amount=amount,
        )

    # The batch checks again what may have changed since the preview (purchases recorded since, members
    # no longer active), so the import can apply the preview's outcomes without reading the file again.
    reuses_preview = True

    def apply(self, outcomes: list[Outcome], *, job: ImportJob) -> None:
        new = [o for o in outcomes if o.action == "new"]
        if new:
            self._post(new, job=job, workers=1, chunk_size=len(new))  # one transaction: the import's chunk

    def apply_outside(self, outcomes: list[Outcome], *, job: ImportJob, workers: int, round_started: datetime) -> bool:
        """Post a round of several chunks outside the import's transaction, split between `workers` processes
        (loyalty_site.files.importing._apply_rounds). First the members are checked: if one is no longer active
        and staff did not choose to import only the valid rows, nothing of the round is posted (returns False).
        `round_started`: when this round was first posted; what was recorded since, for the same member, is
        this import's own work from before an interruption."""
        new = [o for o in outcomes if o.action == "new"]
        recorded = recorded_purchases(_key(o) for o in new)
        # A round posted again after an interruption: what this import recorded the first time (same purchase,
        # same member, since the round started) is its own new row, posted already, and not posted again (nor
        # its member checked again: a member suspended since was active when it was posted).
        new = [o for o in new if not _ours(recorded.get(_key(o)), o, round_started)]
        if not new:
            return True
        # Rows recorded by someone else are the batch's to skip or refuse; the others' members are checked.
        wanted = {o.data["member_id"] for o in new if _key(o) not in recorded}
        found = {
            pk: (status, number)
            for pk, status, number in Member.objects.filter(pk__in=wanted).values_list("pk", "status", "member_number")
        }
        inactive = {pk for pk in wanted if found.get(pk, (None, ""))[0] != Member.Status.ACTIVE}
        if inactive:
            for outcome in new:
                member_id = outcome.data["member_id"]
                if member_id in inactive and _key(outcome) not in recorded:
                    status, number = found.get(member_id, (None, ""))
                    outcome.fail("member_number", "", member_refusal(member_id, status, number))
            if not job.only_valid_rows:
                return False
            new = [o for o in new if o.action == "new"]
        self._post(new, job=job, workers=workers, chunk_size=ROUND_CHUNK)
        return True

    @staticmethod
    def _post(new: list[Outcome], *, job: ImportJob, workers: int, chunk_size: int) -> None:
        rows = [
            PurchaseRow(
                member_id=o.data["member_id"],
                source=o.data["source"],
                external_id=o.data["external_id"],
                amount=o.data["amount"],
                purchased_at=o.data["purchased_at"],
                store=o.data["store"],
                lines=tuple(o.data["lines"]),
            )
            for o in new
        ]
        if not rows:
            return
        # The earn entries name the import, for staff reading the ledger.
        result = purchases_post_batch(rows, chunk_size=chunk_size, workers=workers, reference=f"import:{job.pk}")
        columns = {"member": "member_number", "external_id": "purchase_id", "row": "amount"}
        for refusal in result.refusals:
            outcome = new[refusal.index]
            value = outcome.data["external_id"] if refusal.about == "external_id" else ""
            outcome.fail(columns[refusal.about], value, refusal.reason)
        for index in result.skips:
            new[index].action = "skip"  # recorded since the preview (a till, another import): counted as such


# The column of the purchases file a rewards.planning problem is about.
_PROBLEM_COLUMNS = {
    "member": "member_number",
    "recorded": "purchase_id",
    "external_id": "purchase_id",
    "source": "source",
    "store": "store",
    "amount": "amount",
    "lines": "line_amount",
}


def _key(outcome: Outcome) -> tuple[str, str]:
    return outcome.data["source"], outcome.data["external_id"]


def _ours(recorded: tuple[int, str, datetime] | None, outcome: Outcome, since: datetime) -> bool:
    return recorded is not None and recorded[0] == outcome.data["member_id"] and recorded[2] >= since


def _spoil(outcomes: list[Outcome], column: str, value: str, message: str) -> None:
    """Fail the rows of a purchase that are valid themselves: another of its rows has errors."""
    for outcome in outcomes:
        if outcome.action != "invalid":
            outcome.fail(column, value, message)


def _in_lines_file(column: str) -> str:
    """An error's column in the lines file, so that staff know which file the line number is in."""
    return f"{column} ({gettext('lines file')})" if column else gettext("lines file")


class _LinesFile:
    """The lines file of a purchases import, read once; each purchase takes (claims) its lines in the preview.

    The whole file is held in memory until the purchases claim it, so a line is kept as a flat tuple of
    shared values (a product's name, category and amounts repeat over a file): about 200 bytes a line
    instead of 550 as LineData objects, so a million-line file is ~200 MB at the start of the preview.
    """

    def __init__(self):
        # (source, purchase id) -> [(line number, sku, name, category, quantity, amount) or (line number, errors)]
        self.by_key: dict[tuple[str, str], list[tuple]] = {}
        self.loose: list[Outcome] = []  # rows with no usable purchase id
        self._shared: dict = {}

    def add(self, key: tuple[str, str], number: int, line: LineData | None, errors: list) -> None:
        if errors or line is None:
            entry = (number, errors)
        else:
            share = self._shared.setdefault
            entry = (
                number,
                share(line.sku, line.sku),
                share(line.product_name, line.product_name),
                share(line.category, line.category),
                share(line.quantity, line.quantity),
                share(line.amount, line.amount),
            )
        self.by_key.setdefault(key, []).append(entry)

    @staticmethod
    def unpack(entry: tuple) -> tuple[int, LineData | None, list | None]:
        if len(entry) == 2:
            return entry[0], None, entry[1]
        number, sku, product_name, category, quantity, amount = entry
        line = LineData(sku=sku, product_name=product_name, category=category, quantity=quantity, amount=amount)
        return number, line, None

    def claim(self, key: tuple[str, str]) -> list[tuple[int, LineData | None, list | None]]:
        return [self.unpack(entry) for entry in self.by_key.pop(key, [])]


class _NoLines:
    """No lines file: nothing to claim."""

    @staticmethod
    def claim(key: tuple[str, str]) -> list:
        return []


class RefundImport(ImportHandler):
    kind = "refunds"
    label = _("Refunds (points are reversed)")
    permission = "members.add_refund"
    columns = [
        Column(
            "refund_id",
            required=True,
            help=_("The refund's own number: the key rows are matched on."),
            example="ZWR-2026-0042",
        ),
        Column("purchase_id", required=True, help=_("The purchase being refunded."), example="PAR-2026-000123"),
        Column("source", help=_("The purchase's source; the upload form's value when empty."), example="pos"),
        Column("amount", required=True, help=_("Refunded amount in PLN."), example="49,90"),
        Column("refunded_at", help=_("When; now if empty."), example="05.03.2026"),
        Column("reason", example="Zwrot towaru"),
    ]

    def prepare(self, rows: list[Row], *, job: ImportJob, seen: set) -> list[Outcome]:
        default_source = job.options.get("source") or "import"
        ids = {(r.values.get("source") or default_source, r.values.get("purchase_id", "")) for r in rows}
        query = Q(pk__in=[])
        for source, external_id in ids:
            query |= Q(source=source, external_id=external_id)
        purchases = {(p.source, p.external_id): p for p in Purchase.objects.filter(query).select_related("member")}
        done = set(Refund.objects.filter(purchase__in=purchases.values()).values_list("purchase_id", "external_id"))
        left = {key: p.amount - p.refunded_amount for key, p in purchases.items()}
        outcomes = []
        for row in rows:
            values = row.values
            outcome = Outcome(line=row.line, action="new")
            values.pop("__extra__", None)
            refund_id = values.get("refund_id", "")
            key = (values.get("source") or default_source, values.get("purchase_id", ""))
            if not refund_id:
                outcome.fail("refund_id", "", gettext("is empty"))
            elif not KEY.match(refund_id):
                outcome.fail("refund_id", refund_id, _key_problem())
            elif (key, refund_id) in seen:
                outcome.fail("refund_id", refund_id, gettext("appears more than once in the file"))
            seen.add((key, refund_id))
            purchase = purchases.get(key)
            if purchase is None:
                outcome.fail(
                    "purchase_id",
                    key[1],
                    gettext("no purchase '%(purchase)s' from source '%(source)s'")
                    % {"purchase": key[1], "source": key[0]},
                )
            amount = _parse_amount(outcome, "amount", values.get("amount", ""), _field(Refund, "amount"), positive=True)
            when = _parse_when(outcome, "refunded_at", values.get("refunded_at", ""), required=False)
            reason = values.get("reason", "")
            if problem := too_long(_field(Refund, "reason"), reason):
                outcome.fail("reason", reason[:40], problem)
            if outcome.action != "invalid":
                if (purchase.pk, refund_id) in done:
                    outcome.action = "skip"
                elif amount > left[key]:
                    outcome.fail(
                        "amount",
                        values["amount"],
                        gettext("only %(left)s PLN of this purchase is left to refund")
                        % {"left": formats.number_format(left[key], 2)},
                    )
                else:
                    left[key] -= amount
            outcome.data = {
                "purchase": purchase,
                "refund_id": refund_id,
                "amount": amount,
                "at": when,
                "reason": reason,
            }
            outcomes.append(outcome)
        return outcomes

    def apply(self, outcomes: list[Outcome], *, job: ImportJob) -> None:
        for o in outcomes:
            refund_post(
                purchase=o.data["purchase"],
                external_id=o.data["refund_id"],
                amount=o.data["amount"],
                reason=o.data["reason"],
                actor=job.created_by,
            )


class AdjustmentImport(ImportHandler):
    kind = "adjustments"
    label = _("Points adjustments")
    permission = "rewards.adjust_points"
    columns = [
        Column(
            "adjustment_id",
            required=True,
            help=_("Your number for the adjustment: it is posted once."),
            example="KOR-0001",
        ),
        Column("member_number", required=True, example="1000000001"),
        Column("points", required=True, help=_("Whole points; negative takes points away."), example="-50"),
        Column(
            "reason",
            required=True,
            help=_("Why: shown in the member's history and the audit."),
            example="Rekompensata za reklamację",
        ),
    ]

    def prepare(self, rows: list[Row], *, job: ImportJob, seen: set) -> list[Outcome]:
        numbers = {r.values.get("member_number", "") for r in rows}
        members = {m.member_number: m for m in Member.objects.filter(member_number__in=numbers)}
        balances = dict(PointsAccount.objects.filter(member__in=members.values()).values_list("member_id", "balance"))
        keys = {self.key(r.values.get("adjustment_id", "")) for r in rows}
        posted = set(LedgerEntry.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True))
        balance_max = integer_range(_field(PointsAccount, "balance"))[1]
        outcomes = []
        for row in rows:
            values = row.values
            values.pop("__extra__", None)
            outcome = Outcome(line=row.line, action="new")
            adjustment_id = values.get("adjustment_id", "")
            if not adjustment_id:
                outcome.fail("adjustment_id", "", gettext("is empty"))
            elif not KEY.match(adjustment_id):
                outcome.fail("adjustment_id", adjustment_id, _key_problem())
            elif adjustment_id in seen:
                outcome.fail("adjustment_id", adjustment_id, gettext("appears more than once in the file"))
            seen.add(adjustment_id)
            number = values.get("member_number", "")
            member = members.get(number)
            if member is None:
                outcome.fail(
                    "member_number", number, gettext("no member with number '%(number)s'") % {"number": number}
                )
            elif member.status != Member.Status.ACTIVE:
                outcome.fail(
                    "member_number",
                    number,
                    gettext("member %(number)s is %(status)s")
                    % {"number": number, "status": member.get_status_display().lower()},
                )
            text = values.get("points", "")
            points = None
            if not WHOLE_NUMBER.match(text.replace("\xa0", "").replace(" ", "")):
                outcome.fail(
                    "points", text, gettext("'%(value)s' is not a whole number other than zero") % {"value": text}
                )
            else:
                points = int(text.replace("\xa0", "").replace(" ", ""))
                # The same rule as the admin form's and points_adjust's: one adjustment is capped.
                if problem := adjustment_problem(points):
                    outcome.fail("points", text, problem)
            reason = values.get("reason", "")
            if not reason:
                outcome.fail("reason", "", gettext("is empty: every adjustment needs a reason"))
            elif problem := too_long(LedgerEntry._meta.get_field("reason"), reason):
                outcome.fail("reason", reason[:40], problem)
            if outcome.action != "invalid":
                if self.key(adjustment_id) in posted:
                    outcome.action = "skip"
                else:
                    balance = balances.get(member.pk, 0)
                    if balance + points > balance_max:
                        outcome.fail(
                            "points",
                            text,
                            gettext("the member has %(balance)s points; more would not fit in the balance")
                            % {"balance": formats.number_format(balance, force_grouping=True)},
                        )
                    elif balance + points < 0:
                        outcome.fail(
                            "points",
                            text,
                            ngettext(
                                "the member has %(balance)d point; cannot take away %(points)d",
                                "the member has %(balance)d points; cannot take away %(points)d",
                                balance,
                            )
                            % {"balance": balance, "points": -points},
                        )
                    else:
                        balances[member.pk] = balance + points
            outcome.data = {"member": member, "points": points, "reason": reason, "key": self.key(adjustment_id)}
            outcomes.append(outcome)
        return outcomes

    @staticmethod
    def key(adjustment_id: str) -> str:
        return f"import:adjust:{adjustment_id}"

    def apply(self, outcomes: list[Outcome], *, job: ImportJob) -> None:
        for o in outcomes:
            points_adjust(
                member=o.data["member"],
                points=o.data["points"],
                reason=o.data["reason"],
                actor=job.created_by,
                idempotency_key=o.data["key"],
            )


register(PurchaseImport())
register(RefundImport())
register(AdjustmentImport())

__all__ = ["AdjustmentImport", "MemberError", "PointsError", "PurchaseImport", "RefundImport"]
