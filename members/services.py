"""Writes about members: enrolment, profile edits with an audit trail, consent events, purchases, refunds."""

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import formats, timezone
from django.utils.translation import gettext

from loyalty_site.db import insert_unless_exists
from loyalty_site.hooks import announce

from .events import MemberJoined
from .models import (
    Channel,
    ConsentEvent,
    ConsentPurpose,
    ConsentText,
    LoyaltyCard,
    Member,
    MemberChange,
    Purchase,
    PurchaseLine,
    Refund,
)
from .phones import normalise_phone
from .selectors import consent_state
from .sql import purchase_insert

REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
AUDITED_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "birth_date",
    "gender",
    "city",
    "postal_code",
    "preferred_language",
    "preferred_channel",
    "status",
    "join_source",
    "referred_by",
)


class MemberError(ValueError):
    """A change to a member that the rules refuse; the message is meant for people."""


def new_member_number() -> str:
    return f"{secrets.randbelow(9 * 10**9) + 10**9}"


def new_referral_code() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(8))


def member_create(
    *,
    first_name: str,
    last_name: str,
    email: str = "",
    phone: str = "",
    user: AbstractBaseUser | None = None,
    member_number: str | None = None,
    referred_by: Member | None = None,
    join_source: str = Member.JoinSource.STORE,
    card_number: str | None = None,
    **profile: Any,
) -> Member:
    """Create a member. Numbers and referral codes are random; a clash (rare) is retried. This is the row
    alone: a member who joins the programme is enrolled through `member_enroll`, which calls this."""
    phone = _phone_checked(phone)
    with transaction.atomic():
        for _attempt in range(5):
            try:
                with transaction.atomic():
                    member = Member(
                        user=user,
                        member_number=member_number or new_member_number(),
                        referral_code=new_referral_code(),
                        first_name=first_name,
                        last_name=last_name,
                        email=email.strip().lower(),
                        phone=phone,
                        referred_by=referred_by,
                        join_source=join_source,
                        **profile,
                    )
                    member.full_clean(exclude=["user", "referred_by", "merged_into"])
                    member.save()
                    break
            except IntegrityError:
                if member_number:
                    raise
        else:
            raise MemberError(gettext("Could not allocate a unique member number; try again."))
        if card_number:
            # Apart from the retries above: a card that is taken is the caller's mistake, not a number clash.
            try:
                with transaction.atomic():
                    LoyaltyCard.objects.create(member=member, number=card_number)
            except IntegrityError as exc:
                owner = LoyaltyCard.objects.filter(number=card_number).values_list("member__member_number", flat=True)
                raise MemberError(
                    gettext("The card %(card)s already belongs to member %(number)s.")
                    % {"card": card_number, "number": owner.first() or "?"}
                ) from exc
        return member


def _phone_checked(phone: str) -> str:
    """The phone in E.164 ("" stays ""), or a ValidationError on the field, as `full_clean` raises."""
    if not phone:
        return ""
    try:
        return normalise_phone(phone)
    except ValueError as exc:
        raise ValidationError({"phone": [str(exc)]}) from None


def _audit_value(value: Any) -> str:
    return "" if value is None else str(value)


def _changes_set(
    *, member: Member, actor: AbstractBaseUser | None, changes: Mapping[str, Any], note: str
) -> list[MemberChange]:
    """Set `changes` on `member` (not saved) and return the audit rows of the fields that really change."""
    recorded = []
    for field, new_value in changes.items():
        if field not in AUDITED_FIELDS:
            raise MemberError(gettext("The field '%(field)s' cannot be changed here.") % {"field": field})
        if field == "email":
            new_value = (new_value or "").strip().lower()
        elif field == "phone":
            new_value = _phone_checked(new_value or "")
        old_value = getattr(member, field)
        if old_value == new_value:
            continue
        setattr(member, field, new_value)
        recorded.append(
            MemberChange(
                member=member,
                actor=actor,
                field=field,
                old_value=_audit_value(old_value),
                new_value=_audit_value(new_value),
                note=note,
            )
        )
    return recorded


@transaction.atomic
def member_update(
    *, member: Member, actor: AbstractBaseUser | None, changes: Mapping[str, Any], note: str = ""
) -> list[MemberChange]:
    """Apply profile changes and record each changed field with who changed it."""
    member = Member.objects.select_for_update().get(pk=member.pk)
    recorded = _changes_set(member=member, actor=actor, changes=changes, note=note)
    if recorded:
        member.full_clean(exclude=["user", "referred_by", "merged_into"])
        member.save()
        MemberChange.objects.bulk_create(recorded)
    return recorded


@transaction.atomic
def members_update_many(
    *, changes: Mapping[int, Mapping[str, Any]], actor: AbstractBaseUser | None, note: str = ""
) -> list[MemberChange]:
    """`member_update` for a set (an import's chunk), keyed by member id: the same rules and the same audit
    rows, with one locking query, one UPDATE and one INSERT of the audit for the set.

    The caller has validated the values field by field (the import's prepare does, with the rules the
    admin form applies); uniqueness and the check constraints are the database's."""
    if not changes:
        return []
    members = list(Member.objects.select_for_update().filter(pk__in=list(changes)).order_by("pk"))
    recorded: list[MemberChange] = []
    changed = []
    fields: set[str] = set()
    for member in members:
        rows = _changes_set(member=member, actor=actor, changes=changes[member.pk], note=note)
        if rows:
            recorded.extend(rows)
            changed.append(member)
            fields.update(row.field for row in rows)
    if changed:
        Member.objects.bulk_update(changed, sorted(fields))
        MemberChange.objects.bulk_create(recorded)
    return recorded


def member_referrer(*, referral_code: str) -> Member:
    """The active member whose referral code a newcomer gave, or a MemberError saying there is none."""
    referrer = Member.objects.filter(referral_code=referral_code.strip().upper(), status=Member.Status.ACTIVE).first()
    if referrer is None:
        raise MemberError(gettext("No active member has the referral code '%(code)s'.") % {"code": referral_code})
    return referrer


def _enrolment_record(member: Member, actor: AbstractBaseUser | None, note: str) -> MemberChange:
    # The audit row of an enrolment: who brought the member in, and how (the join source, from nothing).
    return MemberChange(
        member=member, actor=actor, field="join_source", old_value="", new_value=member.join_source, note=note
    )


def _joined(member: Member, welcome: bool) -> MemberJoined:
    return MemberJoined(
        member_id=member.pk,
        joined_at=member.joined_at,
        join_source=member.join_source,
        referred_by_id=member.referred_by_id,
        welcome=welcome,
    )


def member_enroll(
    *,
    actor: AbstractBaseUser | None,
    join_source: str,
    welcome: bool = True,
    referred_by_code: str = "",
    referred_by: Member | None = None,
    note: str = "",
    **fields: Any,
) -> Member:
    """Enrol a member, whichever way they join (admin, import, sign-up, API), in one transaction: create them
    (`member_create`), record who enrolled them, and announce `MemberJoined` (rewards awards the joining
    bonus when `welcome`). A newcomer's `referred_by_code` names the referrer (MemberError when no active
    member has it); staff who picked the referrer pass `referred_by` instead."""
    with transaction.atomic():
        if referred_by_code:
            referred_by = member_referrer(referral_code=referred_by_code)
        member = member_create(referred_by=referred_by, join_source=join_source, **fields)
        MemberChange.objects.bulk_create([_enrolment_record(member, actor, note)])
        announce([_joined(member, welcome)])
    return member


def members_enroll_many(
    *, members: Sequence[Member], actor: AbstractBaseUser | None, welcome: bool, note: str = ""
) -> list[Member]:
    """`member_enroll` for a set (an import's chunk): unsaved members, each with its number, join source and
    profile, created with one INSERT, audited as `member_enroll` audits, announced as one set of
    `MemberJoined`. Referral codes are drawn here. The caller has validated the rows field by field (the
    import's prepare does); uniqueness is the database's."""
    if not members:
        return []
    with transaction.atomic():
        for member in members:
            member.referral_code = member.referral_code or new_referral_code()
            member.email = (member.email or "").strip().lower()
            member.phone = _phone_checked(member.phone)
        created = Member.objects.bulk_create(members)
        MemberChange.objects.bulk_create([_enrolment_record(member, actor, note) for member in created])
        announce([_joined(member, welcome) for member in created])
    return created


def consent_record(
    *,
    member: Member,
    channel: str,
    purpose: str,
    granted: bool,
    source: str,
    text: ConsentText | None = None,
    actor: AbstractBaseUser | None = None,
    at: datetime | None = None,
) -> ConsentEvent | None:
    """Append a consent event. Returns None when it would change nothing (same state, same text)."""
    if channel not in Channel.values or purpose not in ConsentPurpose.values:
        raise MemberError(
            gettext("Unknown consent %(channel)s/%(purpose)s.") % {"channel": channel, "purpose": purpose}
        )
    if granted and text is None:
        text = ConsentText.objects.filter(channel=channel, purpose=purpose).order_by("-valid_from", "-id").first()
    current = consent_state(member=member).get((channel, purpose))
    if (
        current is not None
        and current.granted == granted
        and (not granted or current.text_id == getattr(text, "pk", None))
    ):
        return None
    return ConsentEvent.objects.create(
        member=member,
        channel=channel,
        purpose=purpose,
        granted=granted,
        text=text,
        source=source,
        actor=actor,
        created_at=at or timezone.now(),
    )


def consent_withdraw(
    *, member: Member, channel: str, purpose: str, source: str, actor: AbstractBaseUser | None = None
) -> ConsentEvent | None:
    return consent_record(member=member, channel=channel, purpose=purpose, granted=False, source=source, actor=actor)


@dataclass(frozen=True)
class LineData:
    sku: str
    amount: Decimal
    category: str = ""
    product_name: str = ""
    quantity: Decimal = Decimal("1")


def purchase_create(
    *,
    member: Member,
    source: str,
    external_id: str,
    amount: Decimal,
    purchased_at: datetime,
    store: str = "online",
    lines: Iterable[LineData] = (),
) -> Purchase | None:
    """Create a purchase with its lines, or return None when (source, external_id) is recorded already, also
    by a concurrent transaction. Callers that post points use rewards.services.purchase_post."""
    lines = list(lines)
    if amount < 0:
        raise MemberError(gettext("A purchase amount cannot be negative."))
    if lines and sum((line.amount for line in lines), Decimal("0")) > amount:
        raise MemberError(gettext("The line amounts add up to more than the purchase amount."))
    purchase = Purchase(
        member=member,
        source=source,
        external_id=external_id,
        amount=amount,
        purchased_at=purchased_at,
        store=store or "online",
    )
    if connection.vendor == "postgresql":
        # With its lines in one statement: a till's purchase waits for each round trip to the database.
        return purchase if purchase_insert(purchase, lines) else None
    if not insert_unless_exists(purchase, conflict_fields=("source", "external_id")):
        return None
    if lines:
        PurchaseLine.objects.bulk_create(
            PurchaseLine(
                purchase=purchase,
                sku=line.sku,
                product_name=line.product_name,
                category=line.category,
                quantity=line.quantity,
                amount=line.amount,
            )
            for line in lines
        )
    return purchase


def refund_create(
    *, purchase: Purchase, external_id: str, amount: Decimal, reason: str = "", at: datetime | None = None
) -> tuple[Refund, bool]:
    """Record a refund against a locked purchase. Returns (refund, created); a repeated id changes nothing."""
    purchase = Purchase.objects.select_for_update().get(pk=purchase.pk)
    existing = Refund.objects.filter(purchase=purchase, external_id=external_id).first()
    if existing:
        return existing, False
    if amount <= 0:
        raise MemberError(gettext("A refund amount must be greater than zero."))
    if purchase.refunded_amount + amount > purchase.amount:
        left = purchase.amount - purchase.refunded_amount
        raise MemberError(
            gettext("Only %(left)s PLN of this purchase is left to refund; %(amount)s PLN was asked.")
            % {"left": formats.number_format(left, 2), "amount": formats.number_format(amount, 2)}
        )
    refund = Refund.objects.create(
        purchase=purchase, external_id=external_id, amount=amount, reason=reason, refunded_at=at or timezone.now()
    )
    Purchase.objects.filter(pk=purchase.pk).update(refunded_amount=purchase.refunded_amount + amount)
    purchase.refunded_amount += amount
    return refund, True


def member_merge_profile(*, survivor: Member, duplicate: Member, actor: AbstractBaseUser | None) -> None:
    """Move cards, purchases and newer consent to the survivor and mark the duplicate merged.

    Runs inside the caller's transaction (rewards.services.members_merge moves the points too).
    """
    if survivor.pk == duplicate.pk:
        raise MemberError(gettext("A member cannot be merged into themselves."))
    if duplicate.status == Member.Status.MERGED or survivor.status == Member.Status.MERGED:
        raise MemberError(gettext("One of these members has already been merged."))
    LoyaltyCard.objects.filter(member=duplicate).update(member=survivor)
    Purchase.objects.filter(member=duplicate).update(member=survivor)
    Member.objects.filter(referred_by=duplicate).exclude(pk=survivor.pk).update(referred_by=survivor)
    survivor_state = consent_state(member=survivor)
    for key, event in consent_state(member=duplicate).items():
        mine = survivor_state.get(key)
        if mine is None or event.created_at > mine.created_at:
            consent_record(
                member=survivor,
                channel=event.channel,
                purpose=event.purpose,
                granted=event.granted,
                text=event.text,
                source=ConsentEvent.Source.MERGE,
                actor=actor,
            )
    # Fill profile gaps on the survivor from the duplicate, through the audited path.
    gaps = {
        field: getattr(duplicate, field)
        for field in ("email", "phone", "birth_date", "gender", "city", "postal_code")
        if not getattr(survivor, field) and getattr(duplicate, field)
    }
    if gaps:
        member_update(member=survivor, actor=actor, changes=gaps, note=f"merged from {duplicate.member_number}")
    if survivor.user_id is None and duplicate.user_id is not None:
        # The person keeps logging in with the login they had: it now opens the surviving membership.
        login = duplicate.user_id
        Member.objects.filter(pk=duplicate.pk).update(user=None)
        Member.objects.filter(pk=survivor.pk).update(user_id=login)
        survivor.user_id = login
        duplicate.user_id = None
    Member.objects.filter(pk=duplicate.pk).update(status=Member.Status.MERGED, merged_into=survivor)
    MemberChange.objects.create(
        member=duplicate,
        actor=actor,
        field="status",
        old_value=duplicate.status,
        new_value=Member.Status.MERGED,
        note=f"merged into {survivor.member_number}",
    )
    duplicate.status = Member.Status.MERGED
    duplicate.merged_into = survivor
