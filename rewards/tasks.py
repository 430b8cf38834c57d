"""Periodic points jobs. Each is safe to run twice: the ledger's idempotency keys make repeats no-ops."""

from celery import shared_task

from . import reconciliation, services


@shared_task(acks_late=True)
def points_release_pending_task() -> int:
    return services.points_release_pending()


@shared_task(acks_late=True)
def points_expire_task() -> int:
    return services.points_expire()


@shared_task(acks_late=True)
def tiers_recalculate_task() -> int:
    return services.tiers_recalculate_all()


@shared_task(acks_late=True)
def ledger_reconcile_task() -> int:
    """The nightly ledger check (beat, 03:30). Each run records one check; running it twice adds two records."""
    return reconciliation.ledger_check_run().pk


@shared_task(acks_late=True)
def vouchers_expire_task() -> int:
    """Hourly (beat): closes vouchers past their date, returning points where the reward says so. Each voucher
    leaves `issued` by a conditional UPDATE, so a repeated or concurrent run changes nothing twice."""
    from .redemption import vouchers_expire

    return vouchers_expire()
