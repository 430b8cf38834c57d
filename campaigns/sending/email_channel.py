"""Email: each recipient's message built and handed to the mail backend, the accepted ones recorded at once.

Two paths, for speed: with Django's SMTP backend the MIME bytes are written here (campaigns/mime.py) and
pipelined over its connection (campaigns/smtp_pipeline.py), which took most of a large campaign's time
otherwise; any other backend (anymail, say) gets an ordinary EmailMultiAlternatives. A refused recipient fails
for good; a failing server or a broken connection puts the rest of the batch back for a retry.
"""

import logging
import smtplib
from email.utils import parseaddr

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.core.mail.backends.smtp import EmailBackend as SmtpBackend
from django.core.mail.message import make_msgid, sanitize_address
from django.core.mail.utils import DNS_NAME

from .. import conf
from ..mime import message_bytes
from ..models import Delivery, MessageTemplate
from ..rendering import RenderedTemplate, rendered_template
from ..smtp_pipeline import PipelinedSmtp
from .links import tracking_token, unsubscribe_token
from .outcomes import _mark_failed_attempt, _SentMarks
from .recipients import _personal, _tracking_allowed

logger = logging.getLogger(__name__)


def _email_parts(
    delivery: Delivery, values: dict, tracked: bool, template: RenderedTemplate | None = None
) -> tuple[str, str, str, dict[str, str]]:
    """Subject, text, HTML and headers of one recipient's email."""
    template = template or rendered_template(delivery.template)
    values = dict(values)
    values.update(delivery.context or {})
    headers = {"Message-ID": make_msgid(domain=DNS_NAME)}
    if delivery.purpose == MessageTemplate.Purpose.MARKETING:
        unsubscribe = f"{conf.site_url()}/unsubscribe/{unsubscribe_token(delivery)}/"
        values["unsubscribe_url"] = unsubscribe
        headers["List-Unsubscribe"] = f"<{unsubscribe}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if tracked:
        values["track_base"] = f"{conf.site_url()}/c/{tracking_token(delivery.pk)}"
    html = (template.html_tracked if tracked else template.html).render(values, escape=True)
    subject = " ".join(template.subject.render(values, escape=False).split())  # no line breaks in a header
    return subject, template.text.render(values, escape=False), html, headers


class _Renderer:
    """One batch's messages: each template looked up once, then per message the substitutions and the bytes."""

    def __init__(self):
        self.templates: dict[int, RenderedTemplate] = {}

    def message(self, sender: "_Sender", delivery: Delivery, values: dict, tracked: bool) -> tuple[bytes, str]:
        template = self.templates.get(delivery.template_id)
        if template is None:
            template = self.templates[delivery.template_id] = rendered_template(delivery.template)
        subject, text, html, headers = _email_parts(delivery, values, tracked, template)
        raw = message_bytes(
            sender=sender.from_header, to=delivery.member.email, subject=subject, text=text, html=html, headers=headers
        )
        return raw, headers["Message-ID"]


class _Sender:
    """The batch's connection. `fast`: Django's SMTP backend, whose smtplib connection `_send_smtp` pipelines raw
    bytes over; otherwise `send` hands an EmailMultiAlternatives to the backend (e.g. anymail)."""

    def __init__(self, connection):
        self.connection = connection
        self.fast = isinstance(connection, SmtpBackend)
        self.from_email = settings.DEFAULT_FROM_EMAIL
        self.envelope_from = parseaddr(self.from_email)[1]
        self.from_header = sanitize_address(self.from_email, "utf-8")

    def send(self, to: str, subject: str, text: str, html: str, headers: dict[str, str]) -> None:
        message = EmailMultiAlternatives(
            subject=subject, body=text, to=[to], headers=headers, connection=self.connection
        )
        message.attach_alternative(html, "text/html")
        if not self.connection.send_messages([message]):
            raise smtplib.SMTPException("the backend did not send the message")


def _send_emails(deliveries: list[Delivery], token: str, result: dict) -> float:
    values = _personal(deliveries)
    tracked = _tracking_allowed(deliveries)
    connection = get_connection()
    try:
        connection.open()
    except (OSError, smtplib.SMTPException) as error:
        result["failed"] += len(deliveries)
        return _mark_failed_attempt(deliveries, token, f"SMTP connection: {error}")
    sender = _Sender(connection)
    marks = _SentMarks(token, limit=conf.sent_mark_group() if sender.fast else 1)
    try:
        if sender.fast:
            return _send_smtp(sender, deliveries, values, tracked, token, result, marks)
        for index, delivery in enumerate(deliveries):
            subject, text, html, headers = _email_parts(
                delivery, values.get(delivery.member_id, {}), delivery.member_id in tracked
            )
            try:
                sender.send(delivery.member.email, subject, text, html, headers)
            except smtplib.SMTPRecipientsRefused as error:
                result["failed"] += 1
                _mark_failed_attempt([delivery], token, f"recipient refused: {error}", permanent=True)
                continue
            except (OSError, smtplib.SMTPException) as error:
                # The connection is gone or the server is failing: this and the rest wait for a retry.
                rest = deliveries[index:]
                result["failed"] += len(rest)
                return _mark_failed_attempt(rest, token, f"SMTP: {error}")
            # Accepted by the server: record it at once, in its own commit (the window docs/campaigns.md names).
            marks.add(delivery.pk, headers["Message-ID"])
            result["sent"] += 1
        return 0.0
    finally:
        marks.flush()
        try:
            connection.close()
        except Exception:
            logger.debug("closing the SMTP connection failed", exc_info=True)


def _send_smtp(
    sender: "_Sender",
    deliveries: list[Delivery],
    values: dict,
    tracked: set[int],
    token: str,
    result: dict,
    marks: "_SentMarks",
) -> float:
    """The fast path: MIME bytes written here, pipelined over Django's SMTP connection (campaigns/smtp_pipeline),
    each accepted message recorded in the next group of marks (flushed at once when the server makes us wait)."""
    client = None
    message_ids: dict[int, str] = {}
    by_pk = {delivery.pk: delivery for delivery in deliveries}
    renderer = _Renderer()
    index = 0

    def settle(outcomes) -> str | None:
        """Record outcomes; returns the reason to stop (a temporary failure) or None."""
        stop = None
        for outcome in outcomes:
            message_id = message_ids.pop(outcome.key, "")
            if outcome.accepted:
                marks.add(outcome.key, message_id)
                result["sent"] += 1
            elif outcome.stage in ("mail", "rcpt") and outcome.code >= 500:
                result["failed"] += 1
                _mark_failed_attempt(
                    [by_pk[outcome.key]], token, f"recipient refused: {outcome.code} {outcome.text}", permanent=True
                )
            else:
                stop = stop or (outcome.key, f"SMTP: {outcome.code} {outcome.text}")
        return stop

    try:
        client = PipelinedSmtp(sender.connection.connection, sender.envelope_from, on_wait=marks.flush)
        while index < len(deliveries):
            delivery = deliveries[index]
            raw, message_id = renderer.message(
                sender, delivery, values.get(delivery.member_id, {}), delivery.member_id in tracked
            )
            message_ids[delivery.pk] = message_id
            index += 1
            stop = settle(client.send(delivery.pk, delivery.member.email, raw))
            if stop:
                return _stop_sending(client, deliveries, index, stop, token, result, by_pk)
        stop = settle(client.finish())
        if stop:
            return _stop_sending(client, deliveries, index, stop, token, result, by_pk)
        return 0.0
    except (OSError, smtplib.SMTPException) as error:
        # The connection broke: what the server has not answered waits for a retry (the message whose reply was
        # lost may have been accepted: the documented window).
        unsettled = list(message_ids) + [d.pk for d in deliveries[index:]]
        if client is not None:
            client.abort()
        rest = [by_pk[pk] for pk in dict.fromkeys(unsettled)]
        result["failed"] += len(rest)
        return _mark_failed_attempt(rest, token, f"SMTP: {error}")


def _stop_sending(client, deliveries, index, stop, token, result, by_pk) -> float:
    """A temporary failure: the refused message, the one whose content was not sent yet and the rest wait."""
    failed_pk, reason = stop
    keys = [failed_pk]
    if client.in_flight is not None:
        keys.append(client.in_flight)
    keys += [d.pk for d in deliveries[index:]]
    client.abort()
    rest = [by_pk[pk] for pk in dict.fromkeys(keys)]
    result["failed"] += len(rest)
    return _mark_failed_attempt(rest, token, reason)
