"""Writes of the portal's accounts: signing up, claiming a membership, confirming an email.

Each is one transaction and speaks to people through `AccountError`, whose message is shown as it is."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from members.models import AccountToken, Channel, ConsentEvent, ConsentText, LoyaltyCard, Member, MemberChange
from members.phones import normalise_phone
from members.services import MemberError, consent_record, member_enroll

from .identifiers import LOGIN_STATUSES
from .tokens import IssuedToken, code_matches, secret_matches, token_issue


class AccountError(ValueError):
    """A refusal meant for the person at the screen; `code` names it for tests and templates."""

    def __init__(self, message: str, code: str):
        super().__init__(message)
        self.code = code


def _mismatch() -> AccountError:
    # The same words for an unknown card and a wrong contact: a refusal never tells which cards exist.
    return AccountError(
        gettext(
            "This card or member number and this email or phone do not match our records. Check both and try again."
        ),
        "mismatch",
    )


def _already_claimed() -> AccountError:
    return AccountError(
        gettext("This membership already has an online account. Log in, or reset your password if you forgot it."),
        "claimed",
    )


def login_create(*, member: Member, password: str, email: str = "") -> AbstractBaseUser:
    """A portal login for `member` (its username is not shown to anyone: members log in by email, phone or card)."""
    user = get_user_model().objects.create_user(
        username=f"m{member.member_number}", email=email or member.email, password=password
    )
    Member.objects.filter(pk=member.pk).update(user=user)
    member.user = user
    return user


def member_sign_up(
    *,
    first_name: str,
    last_name: str,
    email: str,
    password: str,
    phone: str = "",
    referral_code: str = "",
    consents: list[tuple[str, str]] = (),
    preferred_language: str = "pl",
) -> Member:
    """Enrol a newcomer who signed up online, with a login and the consents they ticked (each with the text shown).

    Refuses an email that already has a login (log in instead) or belongs to a member enrolled in a shop (claim
    instead); a referral code must name another member, whose email and phone differ from the newcomer's."""
    email = email.strip().lower()
    phone = normalise_phone(phone) if phone else ""
    with transaction.atomic():
        same = Member.objects.select_for_update().filter(email=email, status__in=LOGIN_STATUSES)
        if same.filter(user__isnull=False).exists():
            raise AccountError(
                gettext("An account with this email already exists. Log in, or reset your password."), "email_taken"
            )
        if same.exists():
            raise AccountError(
                gettext("You are already a member with this email. Activate your membership instead of joining again."),
                "claim_instead",
            )
        referrer = None
        if referral_code.strip():
            referrer = Member.objects.filter(
                referral_code=referral_code.strip().upper(), status=Member.Status.ACTIVE
            ).first()
            if referrer is None:
                raise AccountError(gettext("No member has this referral code. Check it or leave it empty."), "referral")
            if referrer.email == email or (phone and referrer.phone == phone):
                raise AccountError(gettext("You cannot use a referral code of your own."), "self_referral")
        try:
            member = member_enroll(
                actor=None,
                join_source=Member.JoinSource.REFERRAL if referrer else Member.JoinSource.ONLINE,
                referred_by=referrer,
                note="portal sign-up",
                first_name=first_name.strip(),
                last_name=last_name.strip(),
                email=email,
                phone=phone,
                preferred_language=preferred_language,
            )
        except MemberError as exc:
            raise AccountError(str(exc), "member") from exc
        login_create(member=member, password=password, email=email)
        for channel, purpose in consents:
            text = ConsentText.objects.filter(channel=channel, purpose=purpose).order_by("-valid_from", "-id").first()
            consent_record(
                member=member,
                channel=channel,
                purpose=purpose,
                granted=True,
                text=text,
                source=ConsentEvent.Source.SIGNUP,
                actor=member.user,
            )
    return member


@dataclass(frozen=True)
class ClaimStarted:
    issued: IssuedToken
    channel: str
    destination: str


def _claim_member(number: str) -> Member | None:
    number = number.strip()
    if not number:
        return None
    card = LoyaltyCard.objects.select_related("member").filter(number=number, is_active=True).first()
    member = card.member if card else Member.objects.filter(member_number=number).first()
    if member is None or member.status not in LOGIN_STATUSES:
        return None
    return member


def claim_start(*, number: str, contact: str) -> ClaimStarted:
    """Check a card or member number against the email or phone on file and issue a code (and a link) to that
    contact. The code goes only to what the programme already has on file, so knowing a card is not enough."""
    member = _claim_member(number)
    contact = contact.strip()
    if member is None or not contact:
        raise _mismatch()
    if "@" in contact:
        channel, destination = Channel.EMAIL, contact.lower()
        matches = bool(member.email) and member.email == destination
    else:
        try:
            destination = normalise_phone(contact)
        except ValueError:
            raise _mismatch() from None
        channel = Channel.SMS
        matches = bool(member.phone) and member.phone == destination
    if not matches:
        raise _mismatch()
    if member.user_id is not None:
        raise _already_claimed()
    with transaction.atomic():
        issued = token_issue(
            member=member,
            purpose=AccountToken.Purpose.CLAIM,
            channel=channel,
            destination=destination,
            lifetime=timedelta(minutes=settings.PORTAL_CLAIM_CODE_MINUTES),
        )
    return ClaimStarted(issued=issued, channel=channel, destination=destination)


# How long a claim link staff send (an invitation) stays valid: longer than a code the member asked for.
INVITATION_DAYS_DEFAULT = 14


def invitation_days() -> int:
    return int(getattr(settings, "PORTAL_INVITATION_DAYS", INVITATION_DAYS_DEFAULT))


def claim_invite(*, member: Member) -> IssuedToken:
    """A claim link for a member staff invite to the portal (enrolled at a till or by import), for the email
    on file: the claim flow's own token, valid `invitation_days()`. The link sets the password
    (`claim_complete`); an earlier unused claim code or invitation is spent. Refused (AccountError) for a member
    who has a login already ("claimed"), has no email ("no_email") or may not log in ("inactive")."""
    if member.user_id is not None:
        raise _already_claimed()
    if member.status not in LOGIN_STATUSES:
        raise AccountError(gettext("Only an active member can be invited to the portal."), "inactive")
    if not member.email:
        raise AccountError(gettext("The member has no email address to send the invitation to."), "no_email")
    with transaction.atomic():
        return token_issue(
            member=member,
            purpose=AccountToken.Purpose.CLAIM,
            channel=Channel.EMAIL,
            destination=member.email,
            lifetime=timedelta(days=invitation_days()),
        )


def _usable_token(token_id: int, purpose: str) -> AccountToken:
    token = AccountToken.objects.select_for_update().filter(pk=token_id, purpose=purpose).first()
    if token is None:
        raise AccountError(gettext("This link is not valid. Ask for a new one."), "invalid")
    if token.used_at is not None:
        raise AccountError(gettext("This code or link has already been used. Ask for a new one."), "used")
    if token.expires_at <= timezone.now():
        raise AccountError(gettext("This code or link has expired. Ask for a new one."), "expired")
    return token


def claim_code_check(*, token_id: int, code: str) -> bool:
    """Whether `code` is the claim token's code. A wrong code counts; after PORTAL_CLAIM_CODE_ATTEMPTS the token is
    spent. Raises AccountError for a token that cannot be used any more. Commits the count on its own, so the
    caller's later refusal does not roll it back."""
    with transaction.atomic():
        token = _usable_token(token_id, AccountToken.Purpose.CLAIM)
        if code_matches(token, code):
            return True
        attempts = token.attempts + 1
        spent = attempts >= settings.PORTAL_CLAIM_CODE_ATTEMPTS
        AccountToken.objects.filter(pk=token.pk).update(attempts=attempts, used_at=timezone.now() if spent else None)
    return False


def claim_complete(*, token_id: int, password: str, code: str = "", secret: str = "") -> Member:
    """Give the claimed membership its login: with the right code (typed) or secret (from the link). The member
    stays the one enrolled at the till: no second member is created. The contact the code went to is confirmed."""
    with transaction.atomic():
        token = _usable_token(token_id, AccountToken.Purpose.CLAIM)
        if not (secret and secret_matches(token, secret)) and not (code and code_matches(token, code)):
            raise AccountError(gettext("The code is not correct."), "wrong_code")
        member = Member.objects.select_for_update().get(pk=token.member_id)
        if member.user_id is not None:
            raise _already_claimed()
        if member.status not in LOGIN_STATUSES:
            raise _mismatch()
        now = timezone.now()
        login_create(member=member, password=password)
        if token.channel == Channel.EMAIL and token.destination == member.email:
            Member.objects.filter(pk=member.pk).update(email_verified_at=now)
            member.email_verified_at = now
        AccountToken.objects.filter(pk=token.pk).update(used_at=now)
        MemberChange.objects.create(
            member=member, actor=member.user, field="login", old_value="", new_value=token.channel, note="portal claim"
        )
    return member


def email_verification_issue(*, member: Member) -> IssuedToken:
    with transaction.atomic():
        return token_issue(
            member=member,
            purpose=AccountToken.Purpose.VERIFY_EMAIL,
            channel=Channel.EMAIL,
            destination=member.email,
            lifetime=timedelta(days=settings.PORTAL_VERIFY_EMAIL_DAYS),
        )


def email_verify(*, token_id: int, secret: str) -> Member:
    """Confirm the address the link went to, if it is still the member's."""
    with transaction.atomic():
        token = _usable_token(token_id, AccountToken.Purpose.VERIFY_EMAIL)
        if not secret_matches(token, secret):
            raise AccountError(gettext("This link is not valid. Ask for a new one."), "invalid")
        member = Member.objects.select_for_update().get(pk=token.member_id)
        now = timezone.now()
        AccountToken.objects.filter(pk=token.pk).update(used_at=now)
        if member.email != token.destination:
            raise AccountError(gettext("Your email address has changed since this link was sent."), "changed")
        Member.objects.filter(pk=member.pk).update(email_verified_at=now)
        member.email_verified_at = now
    return member
