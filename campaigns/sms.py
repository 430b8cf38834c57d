"""SMS: how many parts a text takes (GSM-7 or UCS-2) and the pluggable gateway backends.

`SMS_BACKEND` names the backend: "outbox" (the demo; messages land in the SmsOutbox model staff read in the
admin), "http" (a production gateway speaking JSON over HTTPS), or a dotted path to a class of your own with
`send(phone, text) -> str` returning the gateway's message id and raising `SmsError` on failure.
"""

import json
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.utils.module_loading import import_string

GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = set("^{}\\[~]|€\f")


@dataclass(frozen=True)
class SmsLength:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # characters as the network counts them
    parts: int
    per_part: int  # characters per part at this length (160/153 or 70/67)
    forcing_ucs2: str  # the characters that force UCS-2 (e.g. Polish letters), each once


def sms_length(text: str) -> SmsLength:
    """Parts of an SMS: GSM-7 fits 160 characters (153 per part when concatenated); one character outside
    GSM-7, such as the Polish ą, ę, ł or ó, switches the whole message to UCS-2: 70 (67 per part)."""
    outside = [char for char in text if char not in GSM7_BASIC and char not in GSM7_EXTENSION]
    if outside:
        units = len(text.encode("utf-16-le")) // 2
        single, multi, encoding = 70, 67, "UCS-2"
    else:
        units = sum(2 if char in GSM7_EXTENSION else 1 for char in text)
        single, multi, encoding = 160, 153, "GSM-7"
    if units <= single:
        parts, per_part = (1 if units else 0), single
    else:
        parts, per_part = -(-units // multi), multi
    return SmsLength(encoding, units, parts, per_part, "".join(dict.fromkeys(outside)))


class SmsError(Exception):
    """The gateway refused or could not be reached; the message says why."""


class OutboxBackend:
    """The demo gateway: writes the SMS to the SmsOutbox table (shown in the admin)."""

    transactional = True  # the row is written in the same transaction as the delivery's state

    def send(self, phone: str, text: str, *, delivery_id: int | None = None) -> str:
        from .models import SmsOutbox

        row = SmsOutbox.objects.create(phone=phone, text=text, delivery_id=delivery_id)
        return f"outbox:{row.pk}"


class HttpGatewayBackend:
    """A JSON-over-HTTPS gateway: POST {to, from, text} with a bearer token to SMS_API_URL; expects {"id": ...}."""

    transactional = False

    def __init__(self, url: str | None = None, token: str | None = None, sender: str | None = None):
        self.url = url or settings.SMS_API_URL
        self.token = token or settings.SMS_API_TOKEN
        self.sender = sender or settings.SMS_SENDER

    def send(self, phone: str, text: str, *, delivery_id: int | None = None) -> str:
        if not self.url.startswith("https://") and not self.url.startswith("http://"):
            raise SmsError("SMS_API_URL must be an http(s) address")
        body = json.dumps({"to": phone, "from": self.sender, "text": text}).encode()
        request = urllib.request.Request(  # noqa: S310 - checked to be http(s) above
            self.url,
            data=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the URL is the operator's setting
                payload = json.loads(response.read() or b"{}")
        except Exception as error:  # any network or HTTP error is a failed attempt
            raise SmsError(f"SMS gateway: {error}") from error
        return str(payload.get("id", ""))


ALIASES = {
    "outbox": "campaigns.sms.OutboxBackend",
    "console": "campaigns.sms.OutboxBackend",  # the old default: the outbox is the console now
    "http": "campaigns.sms.HttpGatewayBackend",
}


def sms_backend():
    path = getattr(settings, "SMS_BACKEND", "outbox") or "outbox"
    return import_string(ALIASES.get(path, path))()
