"""Members: enrolment, audited edits, consent history, matching and merging duplicates."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from members.models import ConsentEvent, ConsentText, LoyaltyCard, Member, MemberChange, Purchase
from members.phones import normalise_phone
from members.selectors import consent_state, member_duplicate_groups, member_find, members_with_consent
from members.services import MemberError, consent_record, consent_withdraw, member_update
from rewards.models import LedgerEntry, PointsAccount
from rewards.selectors import ledger_mismatches
from rewards.services import members_merge, points_earn, purchase_post


def test_member_gets_a_number_and_referral_code(make_member):
    member = make_member(card_number="CARD-1")
    assert len(member.member_number) == 10 and len(member.referral_code) == 8
    assert LoyaltyCard.objects.get(number="CARD-1").member == member


# The one phone normaliser: what the admin form accepted (it returned "" for the rest) and what the import
# accepted (it raised for the rest), with one behaviour.
@pytest.mark.parametrize(
    "typed", ["601 234 567", "+48 601-234-567", "0048601234567", "0048 (601) 234.567", "48601234567", "+48601234567"]
)
def test_phone_numbers_as_people_write_them_become_e164(typed):
    assert normalise_phone(typed) == "+48601234567"


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "12ab",
        "601 234",
        "+0601234567",
        "tel. 601 234 567",
        "\uff16\uff10\uff11\uff12\uff13\uff14\uff15\uff16\uff17",
    ],
)
def test_what_is_no_phone_number_is_refused_with_a_message_staff_understand(typed):
    with pytest.raises(ValueError) as info:
        normalise_phone(typed)
    assert str(info.value) == f"'{typed}' nie jest numerem telefonu (np. +48601234567 lub 601 234 567)"


def test_member_services_store_the_phone_in_e164(make_member, staff_user):
    from django.core.exceptions import ValidationError

    member = make_member(phone="601 234 567")
    assert member.phone == "+48601234567"
    member_update(member=member, actor=staff_user, changes={"phone": "0048 601 000 002"})
    member.refresh_from_db()
    assert member.phone == "+48601000002"
    assert MemberChange.objects.get(member=member, field="phone").new_value == "+48601000002"
    with pytest.raises(ValidationError) as info:
        make_member(phone="12ab")
    assert list(info.value.message_dict) == ["phone"]


def test_member_update_records_who_changed_what(member, staff_user):
    member_update(member=member, actor=staff_user, changes={"city": "Łódź", "last_name": "Nowak"})
    changes = {c.field: c for c in MemberChange.objects.filter(member=member)}
    assert changes["city"].new_value == "Łódź" and changes["city"].actor == staff_user
    assert changes["last_name"].new_value == "Nowak"
    member_update(member=member, actor=staff_user, changes={"city": "Łódź"})
    assert MemberChange.objects.filter(member=member).count() == 2
    with pytest.raises(MemberError):
        member_update(member=member, actor=staff_user, changes={"member_number": "1"})


def test_consent_state_is_the_latest_event(member):
    text = ConsentText.objects.create(channel="email", purpose="marketing", version="1.0", text="Zgoda...")
    consent_record(member=member, channel="email", purpose="marketing", granted=True, source="portal")
    assert consent_state(member=member)[("email", "marketing")].text == text
    assert member in members_with_consent(channel="email")
    consent_withdraw(member=member, channel="email", purpose="marketing", source="unsubscribe")
    assert member not in members_with_consent(channel="email")
    assert consent_withdraw(member=member, channel="email", purpose="marketing", source="admin") is None
    assert ConsentEvent.objects.filter(member=member).count() == 2


@pytest.mark.django_db(transaction=True)
def test_consent_events_cannot_be_edited(member):
    event = consent_record(member=member, channel="sms", purpose="marketing", granted=True, source="portal")
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE members_consentevent SET granted = false WHERE id = %s", [event.pk])


def test_purchase_is_matched_by_card_number_email_or_phone(make_member):
    member = make_member(card_number="C-77", email="Ala@Example.pl", phone="+48601000111")
    assert member_find(card="C-77") == member
    assert member_find(member_number=member.member_number) == member
    assert member_find(email="ala@example.pl ") == member
    assert member_find(phone="+48601000111") == member
    assert member_find(card="nope") is None


def test_merge_moves_history_and_points_without_double_counting(make_member, program, staff_user):
    now = timezone.now()
    survivor = make_member(email="dup@example.pl", city="")
    duplicate = make_member(email="dup@example.pl", city="Gdańsk", card_number="C-DUP")
    assert any(g["value"] == "dup@example.pl" for g in member_duplicate_groups())
    purchase_post(member=survivor, source="pos", external_id="S1", amount=Decimal("100"))
    purchase_post(member=duplicate, source="pos", external_id="D1", amount=Decimal("250"))
    points_earn(member=duplicate, points=40, reason="old", idempotency_key="old", at=now - timedelta(days=300))
    consent_record(member=duplicate, channel="sms", purpose="marketing", granted=True, source="portal")

    members_merge(survivor=survivor, duplicate=duplicate, actor=staff_user)

    duplicate.refresh_from_db()
    survivor.refresh_from_db()
    assert duplicate.status == Member.Status.MERGED and duplicate.merged_into == survivor
    assert PointsAccount.objects.get(member=survivor).balance == 100 + 250 + 40
    assert PointsAccount.objects.get(member=duplicate).balance == 0
    assert Purchase.objects.filter(member=survivor).count() == 2
    assert LoyaltyCard.objects.get(number="C-DUP").member == survivor
    assert survivor.city == "Gdańsk"
    assert consent_state(member=survivor)[("sms", "marketing")].granted
    assert member_find(card="C-DUP") == survivor
    assert ledger_mismatches() == []
    # The old lot keeps its expiry date on the survivor.
    from rewards.services import points_expire

    points_expire(now=now + timedelta(days=70))
    assert PointsAccount.objects.get(member=survivor).balance == 350
    assert LedgerEntry.objects.filter(member=duplicate, kind="transfer").count() == 1
    with pytest.raises(Exception) as info:
        members_merge(survivor=survivor, duplicate=duplicate, actor=staff_user)
    assert str(info.value) == "Jeden z tych członków został już połączony."


def test_merge_moves_the_portal_login_to_a_survivor_without_one(make_member, program, staff_user):
    from members.selectors import portal_member

    survivor = make_member()
    duplicate = make_member(login=True)
    login = duplicate.user
    members_merge(survivor=survivor, duplicate=duplicate, actor=staff_user)
    login.refresh_from_db()
    assert portal_member(login) == survivor


def test_a_card_that_belongs_to_another_member_is_refused_by_name_and_creates_no_member(db):
    from members.models import Member
    from members.services import MemberError, member_create

    first = member_create(first_name="Ala", last_name="Nowak", card_number="CARD-1")
    with pytest.raises(MemberError) as refused:
        member_create(first_name="Ola", last_name="Kowalska", card_number="CARD-1")
    assert "CARD-1" in str(refused.value) and first.member_number in str(refused.value)
    assert Member.objects.count() == 1
