"""The purchases import: rows checked by rewards.planning's validator, posted by the batch in rounds."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from django.urls import reverse
from django.utils import formats
from django.utils.http import urlencode
from django.utils.text import capfirst
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty_site.db import any_of
from loyalty_site.files.importing import Column, Figure, ImportHandler, Outcome, Row, row_problems
from loyalty_site.files.models import ImportJob
from loyalty_site.files.tabular import parse_decimal
from loyalty_site.values import decimal_problem, decimal_too_large, integer_range
from members.models import Member, Purchase, PurchaseLine
from members.services import LineData

from ..batch import PurchaseRow, purchases_post_batch, recorded_purchases
from ..config import programme_config
from ..earning import calculate_points
from ..models import LedgerEntry, PointsAccount
from ..planning import line_problems, member_refusal, purchase_problems
from .cells import KEY, LINE_COLUMNS, ROUND_CHUNK, _Clock, _field, _key_problem, _parse_amount, _parse_when
from .lines_file import _in_lines_file, _LinesFile, _NoLines
from .matching import MemberMatcher


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
        (loyalty_site.files.importing.applying._apply_rounds). First the members are checked: if one is no longer active
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

    # -- Figures: the points to be posted (preview) and posted (result) --

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
        tier_of = dict(
            PointsAccount.objects.filter(member_id__in={h.data["member_id"] for h in heads}).values_list(
                "member_id", "tier_id"
            )
        )
        figures: dict[str, int] = defaultdict(int)
        for head in heads:
            data = head.data
            earning = calculate_points(
                amount=data["amount"],
                store=data["store"],
                purchased_at=data["purchased_at"],
                lines=data["lines"],
                tier=tiers.get(tier_of.get(data["member_id"])),
                ruleset=config.ruleset,
            )
            if earning.points <= 0:
                continue
            figures["points"] += earning.points
            figures["purchases"] += 1
            for rule in earning.applied:
                if rule.get("points"):
                    figures[f"rule:{rule.get('rule')}"] += int(rule["points"])
        return dict(figures)

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
        new[0].data["posted_points"] = result.points  # read (and removed) by `applied_figures`
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


def _key(outcome: Outcome) -> tuple[str, str]:
    return outcome.data["source"], outcome.data["external_id"]


def _ours(recorded: tuple[int, str, datetime] | None, outcome: Outcome, since: datetime) -> bool:
    return recorded is not None and recorded[0] == outcome.data["member_id"] and recorded[2] >= since


def _spoil(outcomes: list[Outcome], column: str, value: str, message: str) -> None:
    """Fail the rows of a purchase that are valid themselves: another of its rows has errors."""
    for outcome in outcomes:
        if outcome.action != "invalid":
            outcome.fail(column, value, message)
