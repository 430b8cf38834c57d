"""What the portal sends members: a claim code (email or SMS) and an email confirmation link, in the member's
language, through Django's email backend (EMAIL_BACKEND: the console in the demo) or the SMS log."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import translation

logger = logging.getLogger("members.sms")


def _email(*, to: str, template: str, context: dict, language: str) -> None:
    with translation.override(language):
        subject = " ".join(render_to_string(f"{template}_subject.txt", context).split())
        body = render_to_string(f"{template}.txt", context)
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])


def _sms(*, to: str, template: str, context: dict, language: str) -> None:
    """The portal's one SMS (a claim code). members imports no other app, so campaigns' SMS gateway is not used
    here: the text goes to the `members.sms` log, which a deployment forwards to its gateway."""
    with translation.override(language):
        text = " ".join(render_to_string(f"{template}_sms.txt", context).split())
    logger.info("SMS to %s: %s", to, text)


def claim_code_send(*, channel: str, to: str, code: str, link: str, minutes: int, language: str) -> None:
    context = {"code": code, "link": link, "minutes": minutes}
    if channel == "sms":
        _sms(to=to, template="members/emails/claim_code", context=context, language=language)
    else:
        _email(to=to, template="members/emails/claim_code", context=context, language=language)


def claim_invitation_send(*, to: str, link: str, first_name: str, member_number: str, days: int, language: str) -> None:
    """Staff invite a member to the portal (members.admin's "Invite to the portal"): the claim link by email."""
    context = {"link": link, "first_name": first_name, "member_number": member_number, "days": days}
    _email(to=to, template="members/emails/claim_invitation", context=context, language=language)


def email_verification_send(*, to: str, link: str, first_name: str, language: str) -> None:
    context = {"link": link, "first_name": first_name}
    _email(to=to, template="members/emails/verify_email", context=context, language=language)
