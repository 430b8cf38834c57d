"""Which portal login a person means when they type an email, a phone number, a card or member number, or a
username; and the one name login throttling counts that login's failures under."""

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser

from members.models import LoyaltyCard, Member
from members.phones import normalise_phone

# Members who may log in: an erased or merged member's login opens nothing.
LOGIN_STATUSES = (Member.Status.ACTIVE, Member.Status.SUSPENDED)


def _only(user_ids: list[int]) -> int | None:
    # Two logins behind one email or phone (duplicate members): refuse rather than pick one; the card works.
    distinct = set(user_ids)
    return distinct.pop() if len(distinct) == 1 else None


def login_user_id(identifier: str) -> int | None:
    """The id of the login `identifier` names, or None. Tried in order: a username (staff, and logins created
    before sign-up existed), an email, a card number, a member number, a phone number."""
    identifier = (identifier or "").strip()
    if not identifier or len(identifier) > 254:
        return None
    users = get_user_model().objects
    user_id = users.filter(username=identifier).values_list("pk", flat=True).first()
    if user_id is not None:
        return user_id
    members = Member.objects.filter(status__in=LOGIN_STATUSES, user__isnull=False)
    if "@" in identifier:
        return _only(list(members.filter(email=identifier.lower()).values_list("user_id", flat=True)[:2]))
    card_user = (
        LoyaltyCard.objects.filter(number=identifier, is_active=True, member__in=members)
        .values_list("member__user_id", flat=True)
        .first()
    )
    if card_user is not None:
        return card_user
    number_user = members.filter(member_number=identifier).values_list("user_id", flat=True).first()
    if number_user is not None:
        return number_user
    try:
        phone = normalise_phone(identifier)
    except ValueError:
        return None
    return _only(list(members.filter(phone=phone).values_list("user_id", flat=True)[:2]))


def login_user(identifier: str) -> AbstractBaseUser | None:
    user_id = login_user_id(identifier)
    return None if user_id is None else get_user_model().objects.filter(pk=user_id).first()


def throttle_username(request, credentials: dict | None) -> str:
    """AXES_USERNAME_CALLABLE: the account's username whichever way it was named (email, phone, card), so a
    guesser cannot spread attempts on one account over its several names; an unknown name counts as typed
    (lower-cased), so a missing account locks alike and nothing tells which names exist."""
    typed = ""
    if credentials:
        typed = credentials.get("username") or ""
    if not typed and request is not None:
        typed = request.POST.get("username", "") if request.method == "POST" else ""
    typed = str(typed).strip()
    if typed.startswith("claim:"):  # a claim code's attempts (members.accounts.claim): counted per membership
        return typed
    user_id = login_user_id(typed)
    if user_id is None:
        return typed.lower()
    return get_user_model().objects.filter(pk=user_id).values_list("username", flat=True).first() or typed
