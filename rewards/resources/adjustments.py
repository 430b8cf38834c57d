"""The points adjustments import: each adjustment through rewards.services.points_adjust."""

from django.utils import formats
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from loyalty_site.files.importing import Column, ImportHandler, Outcome, Row
from loyalty_site.files.models import ImportJob
from loyalty_site.values import integer_range, too_long
from members.models import Member

from ..models import LedgerEntry, PointsAccount
from ..services import adjustment_problem, points_adjust
from .cells import KEY, WHOLE_NUMBER, _field, _key_problem


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
