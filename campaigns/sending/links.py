"""Signed tokens for the links in a message: unsubscribe, and open and click tracking.

Signed rather than stored, so a message carries all its links need and nothing is written per link; the salts
keep a token of one kind from being accepted as the other. campaigns/services.py and campaigns/views.py read
them back.
"""

from django.core import signing

from ..models import Delivery

UNSUBSCRIBE_SALT = "campaigns.unsubscribe"
TRACKING_SALT = "campaigns.tracking"


def unsubscribe_token(delivery: Delivery) -> str:
    return signing.dumps([delivery.member_id, delivery.channel, delivery.pk], salt=UNSUBSCRIBE_SALT, compress=True)


def tracking_token(delivery_id: int) -> str:
    return signing.dumps(delivery_id, salt=TRACKING_SALT)
