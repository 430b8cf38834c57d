"""The refunds import: each refund through rewards.services.refund_post."""

from django.db.models import Q
from django.utils import formats
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from loyalty_site.files.importing import Column, ImportHandler, Outcome, Row
from loyalty_site.files.models import ImportJob
from loyalty_site.values import too_long
from members.models import Purchase, Refund

from ..services import refund_post
from .cells import KEY, _field, _key_problem, _parse_amount, _parse_when


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
