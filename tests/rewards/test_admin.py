"""The staff admin for points: adjusting points, merging duplicates, the append-only ledger, programme settings."""

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from members.models import Member, Purchase
from members.services import consent_record
from rewards.models import EarningRule, LedgerEntry, PointsAccount, ProgramSettings
from rewards.selectors import ledger_mismatches
from rewards.services import points_earn, purchase_post
from tests.factories import EarningRuleFactory, PurchaseFactory

CHANGELIST = "admin:members_member_changelist"
# The adjust form's one-time id, as the page would have rendered it.
FORM_ID = "3f2b5a56-6c0f-4a8e-9a51-7a1f0c3f1d10"


def balance(member) -> int:
    account = PointsAccount.objects.filter(member=member).first()
    return account.balance if account else 0


def messages_of(response) -> str:
    return " ".join(str(message) for message in get_messages(response.wsgi_request))


def adjust(client, members, *, points="", reason="", form_id=FORM_ID, apply=True):
    data = {"action": "adjust_points", "_selected_action": [m.pk for m in members], "points": points, "reason": reason}
    if apply:
        data.update({"apply": "1", "token": form_id})
    return client.post(reverse(CHANGELIST), data)


# --- Adjusting points ------------------------------------------------------------------------------


def test_adjust_action_shows_a_form_for_the_selected_members(admin_client_, member, program):
    response = adjust(admin_client_, [member], apply=False)

    assert response.status_code == 200
    assert response.templates[0].name == "admin/rewards/adjust_points.html"
    assert member.member_number in response.content.decode()
    assert not LedgerEntry.objects.exists()


def test_adjust_action_posts_one_entry_with_the_staff_member_and_reason(admin_client_, staff_user, member, program):
    points_earn(member=member, points=100, reason="Start", idempotency_key="start")

    response = adjust(admin_client_, [member], points="-30", reason="Reklamacja 2024/117")

    assert response.status_code == 302
    entry = LedgerEntry.objects.get(member=member, kind=LedgerEntry.Kind.ADJUST)
    assert (entry.points, entry.reason, entry.actor) == (-30, "Reklamacja 2024/117", staff_user)
    assert balance(member) == 70
    assert ledger_mismatches() == []


def test_adjust_without_a_reason_is_refused_and_posts_nothing(admin_client_, member, program):
    response = adjust(admin_client_, [member], points="50", reason="   ")

    assert response.status_code == 200
    assert "reason" in response.context["form"].errors
    assert "Nie skorygowano punktów" in messages_of(response)
    assert not LedgerEntry.objects.exists()


def test_adjust_by_zero_is_refused(admin_client_, member, program):
    response = adjust(admin_client_, [member], points="0", reason="Nic")

    assert "points" in response.context["form"].errors
    assert not LedgerEntry.objects.exists()


def test_adjust_is_all_or_nothing_across_the_selected_members(admin_client_, make_member, program):
    rich, poor = make_member(), make_member()
    points_earn(member=rich, points=100, reason="Start", idempotency_key="rich")

    response = adjust(admin_client_, [rich, poor], points="-20", reason="Korekta")

    assert response.status_code == 200  # the form again, to correct
    assert poor.member_number in messages_of(response)
    assert (balance(rich), balance(poor)) == (100, 0)
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ADJUST).exists()


def test_the_same_adjust_form_posted_twice_adjusts_once(admin_client_, member, program):
    adjust(admin_client_, [member], points="25", reason="Przeprosiny")
    adjust(admin_client_, [member], points="25", reason="Przeprosiny")

    assert LedgerEntry.objects.filter(member=member, kind=LedgerEntry.Kind.ADJUST).count() == 1
    assert balance(member) == 25


def test_points_of_a_merged_member_cannot_be_adjusted(admin_client_, make_member, staff_user, program):
    from rewards.services import members_merge

    survivor, duplicate = make_member(), make_member()
    members_merge(survivor=survivor, duplicate=duplicate, actor=staff_user)

    response = adjust(admin_client_, [duplicate], points="10", reason="Test")

    assert duplicate.member_number in messages_of(response)
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ADJUST).exists()


def test_support_can_adjust_points(role_client, member, program):
    client = role_client("Support")

    response = adjust(client, [member], points="15", reason="Zwrot za opóźnienie")

    assert response.status_code == 302
    assert LedgerEntry.objects.get(member=member).actor == client.user
    assert balance(member) == 15


def test_support_can_adjust_from_the_member_page(role_client, member, program):
    client = role_client("Support")
    url = reverse("admin:members_member_adjust_points", args=[member.pk])
    page = client.get(reverse("admin:members_member_change", args=[member.pk]))
    assert url in page.content.decode()

    response = client.post(
        url, {"apply": "1", "points": "5", "reason": "Gest", "token": "0b9d1c1e-8c77-4d6b-b2a8-3e0f5b8e2d01"}
    )

    assert response.status_code == 302
    assert balance(member) == 5


@pytest.mark.parametrize("role", ["Analyst", "Marketing"])
def test_roles_without_the_permission_get_403_on_adjusting(role_client, member, program, role):
    client = role_client(role)

    from_list = adjust(client, [member], points="15", reason="Nie wolno")
    from_page = client.get(reverse("admin:members_member_adjust_points", args=[member.pk]))

    assert (from_list.status_code, from_page.status_code) == (403, 403)
    assert not LedgerEntry.objects.exists()


def test_analyst_is_not_offered_the_adjust_action(role_client, member):
    response = role_client("Analyst").get(reverse(CHANGELIST))

    assert "adjust_points" not in response.content.decode()


# --- The member page -------------------------------------------------------------------------------


def test_member_page_shows_balance_tier_and_the_ledger(admin_client_, member, program, tiers):
    PurchaseFactory(member=member, external_id="P-1", amount=Decimal("120.00"))

    response = admin_client_.get(reverse("admin:members_member_change", args=[member.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "Brązowy (brakuje 880,00 zł do poziomu Srebrny)" in html
    assert "Zakup P-1" in html and "pt/PLN: 120" in html


def test_member_page_shows_only_the_latest_ledger_entries(
    admin_client_, member, program, django_assert_max_num_queries
):
    for n in range(30):
        points_earn(member=member, points=1, reason=f"Wpis {n}", idempotency_key=f"many:{n}")

    with django_assert_max_num_queries(60):
        response = admin_client_.get(reverse("admin:members_member_change", args=[member.pk]))

    ledger = next(f for f in response.context["inline_admin_formsets"] if f.opts.model is LedgerEntry)
    assert len(ledger.formset.forms) == 20
    assert f"member__id__exact={member.pk}" in response.content.decode()


# --- Duplicates ------------------------------------------------------------------------------------


def test_merging_duplicates_moves_purchases_and_points(admin_client_, staff_user, make_member, program):
    survivor = make_member(email="ta.sama@example.pl")
    duplicate = make_member(email="ta.sama@example.pl", card_number="CARD-D")
    PurchaseFactory(member=survivor, external_id="S-1", amount=Decimal("100"))
    PurchaseFactory(member=duplicate, external_id="D-1", amount=Decimal("250"))
    consent_record(member=duplicate, channel="sms", purpose="marketing", granted=True, source="portal")
    expected = balance(survivor) + balance(duplicate)
    page = admin_client_.get(reverse("admin:members_member_duplicates")).content.decode()
    assert survivor.member_number in page and duplicate.member_number in page

    pair = {"survivor": survivor.pk, "duplicate": duplicate.pk}
    confirm = admin_client_.post(reverse("admin:members_member_merge"), pair)
    assert confirm.status_code == 200 and "Tak, połącz" in confirm.content.decode()
    assert Member.objects.get(pk=duplicate.pk).status == Member.Status.ACTIVE

    response = admin_client_.post(reverse("admin:members_member_merge"), {**pair, "confirm": "1"})

    assert response.status_code == 302
    duplicate.refresh_from_db()
    assert (duplicate.status, duplicate.merged_into) == (Member.Status.MERGED, survivor)
    assert set(Purchase.objects.filter(member=survivor).values_list("external_id", flat=True)) == {"S-1", "D-1"}
    assert (balance(survivor), balance(duplicate)) == (expected, 0)
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.TRANSFER, actor=staff_user).exists()
    assert ledger_mismatches() == []
    assert admin_client_.get(reverse("admin:members_member_duplicates")).context["groups"] == []


def test_merging_a_member_into_themselves_is_refused_with_a_message(admin_client_, member):
    response = admin_client_.post(
        reverse("admin:members_member_merge"), {"survivor": member.pk, "duplicate": member.pk, "confirm": "1"}
    )

    assert response.status_code == 302
    assert "Nie połączono członków" in messages_of(response)
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE


def test_support_can_merge_duplicates(role_client, make_member, program):
    survivor = make_member(phone="+48601555444")
    duplicate = make_member(phone="+48601555444")
    client = role_client("Support")

    response = client.post(
        reverse("admin:members_member_merge"), {"survivor": survivor.pk, "duplicate": duplicate.pk, "confirm": "1"}
    )

    assert response.status_code == 302
    assert Member.objects.get(pk=duplicate.pk).merged_into == survivor


def test_merge_page_refuses_get(admin_client_):
    assert admin_client_.get(reverse("admin:members_member_merge")).status_code == 405


# --- The ledger and the records only services write ------------------------------------------------


@pytest.fixture
def entry(member, program):
    return points_earn(member=member, points=10, reason="Start", idempotency_key="ledger-admin")


@pytest.mark.parametrize("url_name", ["change", "delete"])
def test_nobody_changes_or_deletes_a_ledger_entry_in_the_admin(admin_client_, entry, url_name):
    url = reverse(f"admin:rewards_ledgerentry_{url_name}", args=[entry.pk])

    response = admin_client_.post(url, {"points": "999", "post": "yes"})

    assert response.status_code == 403
    assert LedgerEntry.objects.get(pk=entry.pk).points == 10


def test_nobody_adds_a_ledger_entry_in_the_admin(admin_client_, db):
    assert admin_client_.get(reverse("admin:rewards_ledgerentry_add")).status_code == 403


def test_ledger_entry_page_shows_why_the_points_were_given(admin_client_, member, program, tiers):
    EarningRuleFactory(name="Weekend x2", kind=EarningRule.Kind.MULTIPLIER, multiplier=Decimal("2"))
    posted = purchase_post(member=member, source="pos", external_id="W-1", amount=Decimal("100"))

    response = admin_client_.get(reverse("admin:rewards_ledgerentry_change", args=[posted.entry.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert "stawka podstawowa" in html and "Weekend x2" in html
    assert 'name="points"' not in html  # read-only


def test_ledger_list_filters_by_kind_and_searches_by_member_number(admin_client_, make_member, program, staff_user):
    from rewards.services import points_adjust

    ania, bartek = make_member(), make_member()
    points_earn(member=ania, points=10, reason="Start", idempotency_key="a")
    points_earn(member=bartek, points=10, reason="Start", idempotency_key="b")
    points_adjust(member=bartek, points=5, reason="Korekta", actor=staff_user)

    by_number = admin_client_.get(reverse("admin:rewards_ledgerentry_changelist"), {"q": bartek.member_number})
    by_kind = admin_client_.get(reverse("admin:rewards_ledgerentry_changelist"), {"kind__exact": "adjust"})

    assert {e.member for e in by_number.context["cl"].result_list} == {bartek}
    assert [e.points for e in by_kind.context["cl"].result_list] == [5]


def test_analyst_can_view_the_ledger_but_not_change_the_rules(role_client, entry):
    client = role_client("Analyst")
    rule = EarningRuleFactory(name="Bonus", kind=EarningRule.Kind.BONUS, bonus_points=10)

    assert client.get(reverse("admin:rewards_ledgerentry_changelist")).status_code == 200
    response = client.post(
        reverse("admin:rewards_earningrule_change", args=[rule.pk]),
        {"name": "Zmienione", "kind": "bonus", "bonus_points": "99", "multiplier": "1"},
    )
    assert response.status_code == 403
    assert EarningRule.objects.get(pk=rule.pk).name == "Bonus"


def test_points_accounts_and_tier_changes_are_view_only(admin_client_, entry):
    account = PointsAccount.objects.get(member=entry.member)

    assert admin_client_.post(reverse("admin:rewards_pointsaccount_change", args=[account.pk])).status_code == 403
    assert admin_client_.get(reverse("admin:rewards_pointsaccount_delete", args=[account.pk])).status_code == 403
    assert admin_client_.get(reverse("admin:rewards_tierchange_add")).status_code == 403


# --- Configuration ---------------------------------------------------------------------------------


def test_programme_settings_open_directly_and_cannot_be_added_or_deleted(admin_client_, program):
    listing = admin_client_.get(reverse("admin:rewards_programsettings_changelist"))

    assert listing.status_code == 302
    assert listing["Location"] == reverse("admin:rewards_programsettings_change", args=[program.pk])
    assert admin_client_.get(reverse("admin:rewards_programsettings_add")).status_code == 403
    assert admin_client_.get(reverse("admin:rewards_programsettings_delete", args=[program.pk])).status_code == 403
    assert ProgramSettings.objects.count() == 1


def test_earning_rule_form_checks_weekdays_and_kind(admin_client_, db):
    data = {"name": "Weekend", "kind": "bonus", "is_active": "on", "multiplier": "1", "bonus_points": "0"}
    data.update({"weekdays": "6,8"})

    response = admin_client_.post(reverse("admin:rewards_earningrule_add"), data)

    errors = response.context["adminform"].form.errors
    assert set(errors) == {"weekdays", "bonus_points"}
    assert not EarningRule.objects.exists()

    data.update({"weekdays": "7, 6", "bonus_points": "50"})
    assert admin_client_.post(reverse("admin:rewards_earningrule_add"), data).status_code == 302
    assert EarningRule.objects.get().weekdays == "6,7"
