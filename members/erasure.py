"""Erasing a member's personal data at their request (GDPR art. 17), keeping the programme's totals.

What goes: names, contacts, birth date, gender, address, the login, the audit trail's old and new values, pending
tokens and data exports. What stays: the member row (status "erased", its number), its purchases' amounts and
lines (products, not people), its ledger and consent events (append-only, holding no personal data but the
member id), so balances, reports and the ledger's checks still add up. Other apps scrub their own data on
`MemberErased` (members.events)."""

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from loyalty_site.hooks import announce

from .events import MemberErased
from .models import AccountToken, DataExport, LoyaltyCard, Member, MemberChange
from .services import MemberError

# Personal fields and what they become. Names are required by the model, so they become a placeholder.
ERASED_VALUES = {
    "first_name": "-",
    "last_name": "-",
    "email": "",
    "phone": "",
    "birth_date": None,
    "gender": "",
    "city": "",
    "postal_code": "",
    "email_verified_at": None,
}
PERSONAL_AUDIT_FIELDS = ("first_name", "last_name", "email", "phone", "birth_date", "gender", "city", "postal_code")


def member_erase(*, member: Member, actor: AbstractBaseUser | None, note: str = "") -> Member:
    """Erase `member`'s personal data and announce MemberErased, in one transaction. Erasing twice is refused."""
    with transaction.atomic():
        member = Member.objects.select_for_update().get(pk=member.pk)
        if member.status == Member.Status.ERASED:
            raise MemberError(gettext("This member's data has already been erased."))
        if member.status == Member.Status.MERGED:
            raise MemberError(gettext("A merged member is erased through the member they were merged into."))
        now = timezone.now()
        user_id = member.user_id
        Member.objects.filter(pk=member.pk).update(status=Member.Status.ERASED, user=None, **ERASED_VALUES)
        MemberChange.objects.filter(member=member, field__in=PERSONAL_AUDIT_FIELDS).update(old_value="", new_value="")
        MemberChange.objects.create(
            member=member,
            actor=actor if actor is not None and actor.pk != user_id else None,
            field="status",
            old_value=member.status,
            new_value=Member.Status.ERASED,
            note=note or "erased at the member's request",
        )
        LoyaltyCard.objects.filter(member=member).update(is_active=False)
        AccountToken.objects.filter(member=member).delete()
        for export in DataExport.objects.filter(member=member):
            if export.file:
                export.file.delete(save=False)
        DataExport.objects.filter(member=member).delete()
        if user_id is not None:
            _login_erase(user_id)
        announce([MemberErased(member_id=member.pk, erased_at=now)])
        member.refresh_from_db()
    return member


def _login_erase(user_id: int) -> None:
    """The login cannot be deleted (the ledger's and audit's `actor` point at it): it is emptied and disabled."""
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user = user_model.objects.get(pk=user_id)
    user.username = f"erased-{user_id}"
    user.email = ""
    user.first_name = ""
    user.last_name = ""
    user.is_active = False
    user.set_unusable_password()
    user.save()
