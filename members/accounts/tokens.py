"""One-time secrets for claiming a membership and confirming an email: made, hashed, checked."""

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from members.models import AccountToken, Member

CODE_DIGITS = 6


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _code_hash(secret: str, code: str) -> str:
    return salted_hmac("members.accounts.code", f"{secret}:{code}", algorithm="sha256").hexdigest()


@dataclass(frozen=True)
class IssuedToken:
    """A token just made, with its secrets in clear: they exist only here, to be sent, never stored."""

    token: AccountToken
    secret: str
    code: str


def token_issue(*, member: Member, purpose: str, channel: str, destination: str, lifetime: timedelta) -> IssuedToken:
    """A new token for `member`; earlier unused tokens of the same purpose are spent, so only the last one works."""
    now = timezone.now()
    AccountToken.objects.filter(member=member, purpose=purpose, used_at__isnull=True).update(used_at=now)
    secret = secrets.token_urlsafe(32)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    token = AccountToken.objects.create(
        member=member,
        purpose=purpose,
        channel=channel,
        destination=destination,
        secret_hash=_hash(secret),
        # The code is checked against the secret's hash, which is all the row keeps of the secret.
        code_hash=_code_hash(_hash(secret), code),
        created_at=now,
        expires_at=now + lifetime,
    )
    return IssuedToken(token=token, secret=secret, code=code)


def secret_matches(token: AccountToken, secret: str) -> bool:
    return constant_time_compare(token.secret_hash, _hash(secret or ""))


def code_matches(token: AccountToken, code: str) -> bool:
    code = "".join((code or "").split())
    return bool(token.code_hash) and constant_time_compare(token.code_hash, _code_hash(token.secret_hash, code))
