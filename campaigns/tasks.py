"""Celery tasks of campaigns: thin, idempotent, taking ids; the work is in campaigns.sending and services."""

from celery import shared_task

from . import sending, services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def campaign_fanout_task(campaign_id: int) -> int:
    return sending.campaign_fanout(campaign_id=campaign_id)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliveries_send_task(self, delivery_ids: list[int]) -> dict:
    result = sending.deliveries_send(delivery_ids=delivery_ids)
    if result["retry_in"]:
        # Not self.retry(): the failed rows themselves carry their attempts; the batch is simply sent again later.
        deliveries_send_task.apply_async((list(delivery_ids),), countdown=result["retry_in"] + 0.5)
    return result


@shared_task(acks_late=True, ignore_result=True)
def campaigns_sweep_task() -> int:
    return sending.campaigns_sweep()


@shared_task(acks_late=True, ignore_result=True)
def campaigns_launch_due_task() -> int:
    return services.campaigns_launch_due()


sending.enqueue_send = lambda ids: deliveries_send_task.delay(list(ids))
sending.enqueue_fanout = lambda campaign_id: campaign_fanout_task.delay(campaign_id)


@shared_task(acks_late=True, ignore_result=True)
def journeys_daily_task() -> dict:
    from .journeys import journeys_daily

    return journeys_daily()
