"""The sending pipeline: fan a campaign out into delivery rows, claim and send them in batches, exactly once.

Every message is a `Delivery` row, unique per (campaign, member, channel), written before anything is sent.
A sender claims rows by moving them from `queued` to `sending` with a lease (`SELECT ... FOR UPDATE SKIP
LOCKED`, then an UPDATE in the same transaction), so a task delivered twice, or run by two workers at once,
finds the rows already claimed and sends nothing. Consent and the frequency cap are checked again at the claim.
Accepted emails are marked `sent` a small group at a time right after the SMTP server accepts them (SMS one
by one). A sender that dies leaves its unsent claims in `sending`; when the lease ends the sweep
(`campaigns_sweep`, run by beat every minute) claims them again. See docs/campaigns.md for the one window this
leaves (accepted, not yet marked).

The modules follow a message's way: `audience` (who, which variant), `fanout` (the rows), `batch` (a send
task's work: `claiming`, `recipients`, `email_channel` or `sms_channel`, `outcomes`), `links` (the signed
tokens in a message) and `sweep` (what a dead worker or a lost task left). Code outside imports from here.

`enqueue_send` and `enqueue_fanout` are where the pipeline hands work on. They are attributes of this package,
looked up at each call, so that campaigns/tasks.py makes them Celery tasks, and tests, the demo and the
benchmark collect or run in-process, by assigning `campaigns.sending.enqueue_send = ...`.
"""

from collections.abc import Callable

from .. import conf  # noqa: F401 (read as `sending.conf` before the package was split)
from .audience import PENDING, campaign_audience
from .batch import deliveries_send, quiet_hours_delay
from .claiming import deliveries_claim
from .fanout import campaign_fanout, campaign_finish_if_done
from .links import TRACKING_SALT, UNSUBSCRIBE_SALT, tracking_token, unsubscribe_token
from .sweep import campaigns_sweep, deliveries_stalled

# Set by tasks.py: how a list of delivery ids is handed to a sender (a Celery task in production).
enqueue_send: Callable[[list[int]], None] = lambda ids: deliveries_send(delivery_ids=ids)  # noqa: E731
# Set by tasks.py: how a campaign's fan-out is started (a Celery task in production).
enqueue_fanout: Callable[[int], None] = lambda campaign_id: campaign_fanout(campaign_id=campaign_id)  # noqa: E731

__all__ = [
    "PENDING",
    "TRACKING_SALT",
    "UNSUBSCRIBE_SALT",
    "campaign_audience",
    "campaign_fanout",
    "campaign_finish_if_done",
    "campaigns_sweep",
    "deliveries_claim",
    "deliveries_send",
    "deliveries_stalled",
    "enqueue_fanout",
    "enqueue_send",
    "quiet_hours_delay",
    "tracking_token",
    "unsubscribe_token",
]
