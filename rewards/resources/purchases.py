"""The purchases import: its columns, and the preview of a chunk (members matched, purchases checked by
rewards.planning, the lines joined, the points bounded)."""

from collections import defaultdict
from collections.abc import Iterable

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty_site.db import any_of
from loyalty_site.files.importing import Column, ImportHandler, Outcome, Row
from loyalty_site.files.models import ImportJob
from members.models import Purchase

from ..planning import purchase_problems
from .ceiling import PointsCeiling
from .cells import KEY, LINE_COLUMNS, _Clock, _field, _key_problem, _parse_amount, _parse_when
from .lines_file import _in_lines_file, _LinesFile, _NoLines
from .matching import MemberMatcher
from .purchase_figures import PurchaseFigures
from .purchase_lines import line_read, lines_file_read, lines_unclaimed
from .purchase_posting import PurchasePosting


class PurchaseImport(PurchasePosting, PurchaseFigures, ImportHandler):
    """The purchases file (and its optional lines file): read and checked here, posted by PurchasePosting,
    counted by PurchaseFigures."""

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

    def read_lines(self, rows: Iterable[Row], *, job: ImportJob) -> _LinesFile:
        """The whole lines file by (source, purchase id): each row's line number and its line, or its errors."""
        return lines_file_read(rows, job=job)

    unclaimed_lines = staticmethod(lines_unclaimed)

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
            line = line_read(values, outcome, has_line=has_line)
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
        PointsCeiling().refuse(groups, matcher.held)
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
        while it was read (a line's own problems are on the line's row: `line_read`)."""
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


def _spoil(outcomes: list[Outcome], column: str, value: str, message: str) -> None:
    """Fail the rows of a purchase that are valid themselves: another of its rows has errors."""
    for outcome in outcomes:
        if outcome.action != "invalid":
            outcome.fail(column, value, message)
