"""The nightly ledger check: compares every stored balance with the ledger and the lots, records the result
and puts any difference in front of staff (the admin banner, an ERROR in the log)."""

import logging

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from .models import LedgerCheck, PointsAccount
from .selectors import ledger_mismatches

logger = logging.getLogger(__name__)

# Staff who may read the ledger see its checks and the banner.
VIEW_PERMISSION = "rewards.view_ledgerentry"


def ledger_check_run() -> LedgerCheck:
    """Run the reconciliation over every account and record it. Changes nothing but adding its own record."""
    started_at = timezone.now()
    accounts_checked = PointsAccount.objects.count()
    problems = ledger_mismatches()
    check = LedgerCheck.objects.create(
        started_at=started_at,
        finished_at=timezone.now(),
        # An account created between the count and the comparison may differ too; never record more than all.
        accounts_checked=max(accounts_checked, len(problems)),
        mismatch_count=len(problems),
        mismatches=[
            {
                "member_id": problem["member_id"],
                "balance": problem["balance"],
                "pending": problem["pending"],
                "ledger_available": problem["ledger"]["available"],
                "ledger_pending": problem["ledger"]["pending"],
                "lots": problem["lots"],
            }
            for problem in problems[: LedgerCheck.SAMPLE_SIZE]
        ],
    )
    if problems:
        logger.error(
            "Ledger check %s: %d of %d accounts differ from the ledger or the lots; first member ids: %s",
            check.pk,
            check.mismatch_count,
            check.accounts_checked,
            ", ".join(str(problem["member_id"]) for problem in problems[:10]),
        )
    else:
        logger.info("Ledger check %s: all %d accounts equal the ledger and the lots", check.pk, accounts_checked)
    return check


def ledger_check_alert(*, user: AbstractBaseUser | AnonymousUser) -> LedgerCheck | None:
    """The latest check when it found differences and the user may see it; None otherwise (also when clean)."""
    if not (user.is_active and user.is_staff and user.has_perm(VIEW_PERMISSION)):
        return None
    latest = LedgerCheck.objects.order_by("-started_at", "-id").first()
    if latest is None or not latest.mismatch_count:
        return None
    return latest
