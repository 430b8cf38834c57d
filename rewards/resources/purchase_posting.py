"""How the purchases import writes: its new purchases go to the batch (rewards.batch.purchases_post_batch),
in the import's transaction chunk by chunk, or in rounds split between worker processes."""

from datetime import datetime

from loyalty_site.files.importing import Outcome
from loyalty_site.files.models import ImportJob
from members.models import Member

from ..batch import PurchaseRow, purchases_post_batch, recorded_purchases
from ..planning import member_refusal
from .cells import ROUND_CHUNK


class PurchasePosting:
    """`apply` and `apply_outside` of `ImportHandler` for the purchases import (mixed into PurchaseImport)."""

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


def _key(outcome: Outcome) -> tuple[str, str]:
    return outcome.data["source"], outcome.data["external_id"]


def _ours(recorded: tuple[int, str, datetime] | None, outcome: Outcome, since: datetime) -> bool:
    return recorded is not None and recorded[0] == outcome.data["member_id"] and recorded[2] >= since
