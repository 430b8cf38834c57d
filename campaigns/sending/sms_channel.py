"""SMS: one message at a time through the configured gateway (campaigns/sms.py), each marked sent at once.

A gateway offers nothing to pipeline. One that is `transactional` (the outbox of the demo and the tests) writes
its row in the same transaction as the mark, so the two always agree. The first gateway error puts the rest of
the batch back for a retry.
"""

from django.db import transaction

from ..models import Delivery
from ..rendering import rendered_template
from ..sms import SmsError, sms_backend
from .outcomes import _mark_failed_attempt, _mark_sent
from .recipients import _personal


def _send_sms(deliveries: list[Delivery], token: str, result: dict) -> float:
    values = _personal(deliveries)
    backend = sms_backend()
    for index, delivery in enumerate(deliveries):
        template = rendered_template(delivery.template)
        personal = dict(values.get(delivery.member_id, {}))
        personal.update(delivery.context or {})
        text = template.text.render(personal, escape=False)
        try:
            if getattr(backend, "transactional", False):
                with transaction.atomic():
                    provider_id = backend.send(delivery.member.phone, text, delivery_id=delivery.pk)
                    _mark_sent(delivery.pk, token, provider_id)
            else:
                provider_id = backend.send(delivery.member.phone, text, delivery_id=delivery.pk)
                _mark_sent(delivery.pk, token, provider_id)
        except SmsError as error:
            rest = deliveries[index:]
            result["failed"] += len(rest)
            return _mark_failed_attempt(rest, token, str(error))
        result["sent"] += 1
    return 0.0
