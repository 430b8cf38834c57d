"""The staff admin for members: search, filters, bounded queries, audited edits, masking, consent, duplicates."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from members.models import ConsentEvent, Member, MemberChange
from members.services import consent_record
from rewards.services import points_earn, purchase_post

CHANGELIST = "admin:members_member_changelist"


PERSONAL_DATA = "view_member_personal_data"
ROLES_WITHOUT_PERSONAL_DATA = ("Analyst", "Marketing")


def change_url(member):
    return reverse("admin:members_member_change", args=[member.pk])


def change_form_data(response) -> dict:
    """What a browser would post back from an admin change page, untouched: the form and all inline formsets."""
    data = {}
    form = response.context["adminform"].form
    for name in form.fields:
        value = form[name].value()
        if value is not None:
            data[name] = value
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[f"{formset.prefix}-{name}"] = management[name].value()
        for inline_form in formset.forms:
            for name in inline_form.fields:
                value = inline_form[name].value()
                if value is not None:
                    data[inline_form.add_prefix(name)] = value
    return data


def changelist_members(response) -> list[Member]:
    return list(response.context["cl"].result_list)


# --- Search and filters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    ["+48601234567", "601 234 567", "ala.nowak@example.pl", "ALA.NOWAK@example.pl", "NUMBER", "CARD-55", "Nowak"],
)
def test_changelist_search_finds_a_member_by_phone_email_number_or_card(admin_client_, make_member, query):
    wanted = make_member(
        first_name="Ala", last_name="Nowak", email="ala.nowak@example.pl", phone="+48601234567", card_number="CARD-55"
    )
    make_member(first_name="Olek", last_name="Lis", email="olek@example.pl", phone="+48602000000")
    query = wanted.member_number if query == "NUMBER" else query

    response = admin_client_.get(reverse(CHANGELIST), {"q": query})

    assert response.status_code == 200
    assert changelist_members(response) == [wanted]


def test_consent_filter_lists_members_by_their_latest_email_consent(admin_client_, make_member):
    consenting = make_member()
    withdrawn = make_member()
    never_asked = make_member()
    consent_record(member=consenting, channel="email", purpose="marketing", granted=True, source="portal")
    consent_record(member=withdrawn, channel="email", purpose="marketing", granted=True, source="portal")
    consent_record(member=withdrawn, channel="email", purpose="marketing", granted=False, source="unsubscribe")

    yes = admin_client_.get(reverse(CHANGELIST), {"consent": "email:yes"})
    no = admin_client_.get(reverse(CHANGELIST), {"consent": "email:no"})

    assert changelist_members(yes) == [consenting]
    assert set(changelist_members(no)) == {withdrawn, never_asked}


def test_city_filter_offers_the_most_common_cities(admin_client_, make_member):
    for _ in range(3):
        make_member(city="Kraków")
    make_member(city="Gdynia")

    response = admin_client_.get(reverse(CHANGELIST), {"city": "Gdynia"})

    assert [m.city for m in changelist_members(response)] == ["Gdynia"]
    assert "Kraków (3)" in response.content.decode()


# --- Query counts ----------------------------------------------------------------------------------


def _changelist_queries(client, filters=None) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(CHANGELIST), {"all": "", **(filters or {})})
    assert response.status_code == 200
    return len(queries), len(changelist_members(response))


def _enrol_with_points(make_member, count, start):
    for n in range(start, start + count):
        member = make_member(city=f"Miasto{n % 7}", card_number=f"QC-{n}")
        points_earn(member=member, points=10 + n, reason="Powitanie", idempotency_key=f"qc:{n}")


def test_member_changelist_queries_do_not_grow_with_the_members_shown(
    admin_client_, make_member, program, tiers, django_assert_max_num_queries
):
    _enrol_with_points(make_member, 50, 0)
    with django_assert_max_num_queries(20):
        admin_client_.get(reverse(CHANGELIST), {"all": ""})
    queries_50, shown_50 = _changelist_queries(admin_client_)
    _enrol_with_points(make_member, 50, 50)
    queries_100, shown_100 = _changelist_queries(admin_client_)

    assert (shown_50, shown_100) == (50, 100)
    assert queries_100 == queries_50


def test_member_changelist_queries_stay_bounded_with_filters_and_search(admin_client_, make_member, program, tiers):
    _enrol_with_points(make_member, 20, 0)
    filters = {"consent": "email:no", "status__exact": "active", "q": "Jan"}
    queries_20, shown_20 = _changelist_queries(admin_client_, filters)
    _enrol_with_points(make_member, 20, 20)
    queries_40, shown_40 = _changelist_queries(admin_client_, filters)

    assert (shown_20, shown_40) == (20, 40)
    assert queries_40 == queries_20


# --- Editing ---------------------------------------------------------------------------------------


def test_editing_a_member_in_the_admin_records_who_changed_what(admin_client_, staff_user, make_member, program):
    member = make_member(city="Poznań", phone="+48601000001")
    purchase_post(member=member, source="pos", external_id="E-1", amount=Decimal("50"))
    consent_record(member=member, channel="sms", purpose="marketing", granted=True, source="portal")
    data = change_form_data(admin_client_.get(change_url(member)))
    data.update({"city": "Wrocław", "phone": "601 000 002", "email": " Nowy@Example.PL "})

    response = admin_client_.post(change_url(member), data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    member.refresh_from_db()
    assert (member.city, member.phone, member.email) == ("Wrocław", "+48601000002", "nowy@example.pl")
    changes = {change.field: change for change in MemberChange.objects.filter(member=member)}
    assert set(changes) == {"city", "phone", "email"}
    assert changes["city"].old_value == "Poznań" and changes["city"].new_value == "Wrocław"
    assert all(change.actor == staff_user for change in changes.values())


def test_saving_an_unchanged_member_records_nothing(admin_client_, member):
    data = change_form_data(admin_client_.get(change_url(member)))

    response = admin_client_.post(change_url(member), data)

    assert response.status_code == 302
    assert not MemberChange.objects.filter(member=member).exists()


def test_staff_cannot_mark_a_member_merged_by_hand(admin_client_, member):
    data = change_form_data(admin_client_.get(change_url(member)))
    data["status"] = Member.Status.MERGED

    response = admin_client_.post(change_url(member), data)

    assert response.status_code == 200
    assert "status" in response.context["adminform"].form.errors
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE


def test_adding_a_member_in_the_admin_enrols_them_through_the_service(admin_client_):
    add = reverse("admin:members_member_add")
    data = change_form_data(admin_client_.get(add))
    data.update({"first_name": "Zofia", "last_name": "Wójcik", "email": "zofia@example.pl", "phone": "601111222"})
    data.update({"cards-TOTAL_FORMS": "1", "cards-0-number": "NEW-CARD-1", "cards-0-is_active": "on"})

    response = admin_client_.post(add, data)

    assert response.status_code == 302
    member = Member.objects.get(email="zofia@example.pl")
    assert member.phone == "+48601111222" and len(member.member_number) == 10 and member.referral_code
    assert member.join_source == Member.JoinSource.ADMIN
    assert [card.number for card in member.cards.all()] == ["NEW-CARD-1"]


def test_members_cannot_be_deleted_in_the_admin(admin_client_, member):
    response = admin_client_.get(reverse("admin:members_member_delete", args=[member.pk]))

    assert response.status_code == 403


# --- Roles and personal data -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES_WITHOUT_PERSONAL_DATA)
def test_roles_without_personal_data_do_not_get_it(db, role):
    assert not Group.objects.get(name=role).permissions.filter(codename=PERSONAL_DATA).exists()


def test_analyst_sees_masked_contact_details(role_client, make_member):
    member = make_member(email="katarzyna@example.pl", phone="+48601999888")
    client = role_client("Analyst")

    listing = client.get(reverse(CHANGELIST)).content.decode()
    page = client.get(change_url(member)).content.decode()

    # The list shows no contact details (they are on the member's page); the page shows them masked.
    assert "k***@example.pl" in page
    for html in (listing, page):
        assert "katarzyna@example.pl" not in html
        assert "+48601999888" not in html


def test_analyst_cannot_change_a_member(role_client, member):
    client = role_client("Analyst")
    response = client.post(change_url(member), {"first_name": "Hacked", "last_name": "X", "status": "active"})

    assert response.status_code == 403
    member.refresh_from_db()
    assert member.first_name != "Hacked"


def test_analyst_can_only_search_whole_email_addresses(role_client, make_member):
    member = make_member(email="katarzyna@example.pl")
    client = role_client("Analyst")

    partial = client.get(reverse(CHANGELIST), {"q": "katarz"})
    whole = client.get(reverse(CHANGELIST), {"q": "katarzyna@example.pl"})

    assert changelist_members(partial) == []
    assert changelist_members(whole) == [member]


def test_support_sees_full_contact_details_and_can_edit(role_client, make_member):
    member = make_member(email="katarzyna@example.pl")
    client = role_client("Support")
    response = client.get(change_url(member))
    assert "katarzyna@example.pl" in response.content.decode()

    data = change_form_data(response)
    data["last_name"] = "Zielińska"
    assert client.post(change_url(member), data).status_code == 302
    assert MemberChange.objects.get(member=member, field="last_name").actor == client.user


def test_editing_without_the_personal_data_permission_leaves_contact_details_alone(client, make_member):
    from django.contrib.auth.models import Permission

    member = make_member(email="katarzyna@example.pl", phone="+48601999888")
    editor = get_user_model().objects.create_user(username="editor", is_staff=True)
    editor.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="members", codename__in=["view_member", "change_member"])
    )
    client.force_login(editor)
    page = client.get(change_url(member))
    data = change_form_data(page)
    assert "email" not in data and "katarzyna@example.pl" not in page.content.decode()

    data["city"] = "Lublin"
    response = client.post(change_url(member), data)

    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.city, member.email, member.phone) == ("Lublin", "katarzyna@example.pl", "+48601999888")
    assert list(MemberChange.objects.filter(member=member).values_list("field", flat=True)) == ["city"]


def test_analyst_sees_masked_values_in_the_change_history(role_client, member, staff_user):
    from members.services import member_update

    member_update(member=member, actor=staff_user, changes={"email": "sekret@example.pl"})
    client = role_client("Analyst")

    page = client.get(change_url(member)).content.decode()
    history = client.get(reverse("admin:members_memberchange_changelist")).content.decode()

    for html in (page, history):
        assert "s***@example.pl" in html
        assert "sekret@example.pl" not in html


# --- Consent ---------------------------------------------------------------------------------------


def test_staff_record_consent_through_the_service_with_their_name(admin_client_, staff_user, member):
    data = {"member": member.pk, "channel": "sms", "purpose": "marketing", "granted": "on", "text": ""}

    response = admin_client_.post(reverse("admin:members_consentevent_add"), data)

    assert response.status_code == 302
    event = ConsentEvent.objects.get(member=member)
    assert (event.source, event.actor, event.granted) == (ConsentEvent.Source.ADMIN, staff_user, True)


def test_recording_the_consent_a_member_already_has_adds_nothing(admin_client_, member):
    consent_record(member=member, channel="sms", purpose="marketing", granted=False, source="portal")
    data = {"member": member.pk, "channel": "sms", "purpose": "marketing", "text": ""}

    response = admin_client_.post(reverse("admin:members_consentevent_add"), data)

    assert response.status_code == 302
    assert ConsentEvent.objects.filter(member=member).count() == 1
    assert "już w tym stanie" in " ".join(str(m) for m in get_messages(response.wsgi_request))


def test_consent_events_cannot_be_changed_or_deleted_in_the_admin(admin_client_, member):
    event = consent_record(member=member, channel="sms", purpose="marketing", granted=True, source="portal")

    change = admin_client_.post(reverse("admin:members_consentevent_change", args=[event.pk]), {"granted": ""})
    delete = admin_client_.post(reverse("admin:members_consentevent_delete", args=[event.pk]), {"post": "yes"})

    assert (change.status_code, delete.status_code) == (403, 403)
    assert ConsentEvent.objects.get(pk=event.pk).granted is True


# --- Duplicates ------------------------------------------------------------------------------------


def test_duplicates_page_lists_members_sharing_an_email(admin_client_, make_member):
    first = make_member(email="blizniak@example.pl")
    second = make_member(email="blizniak@example.pl")
    make_member(email="ktos.inny@example.pl")

    response = admin_client_.get(reverse("admin:members_member_duplicates"))

    assert response.status_code == 200
    groups = response.context["groups"]
    assert len(groups) == 1
    assert [row["member"] for row in groups[0]["members"]] == [first, second]
    assert f'name="duplicate" value="{second.pk}"' in response.content.decode()


def test_analyst_sees_duplicates_masked_and_cannot_merge(role_client, make_member):
    first = make_member(email="blizniak@example.pl")
    second = make_member(email="blizniak@example.pl")
    client = role_client("Analyst")

    page = client.get(reverse("admin:members_member_duplicates"))
    merge = client.post(
        reverse("admin:members_member_merge"), {"survivor": first.pk, "duplicate": second.pk, "confirm": "1"}
    )

    assert "b***@example.pl" in page.content.decode() and "blizniak@example.pl" not in page.content.decode()
    assert 'name="duplicate"' not in page.content.decode()
    assert merge.status_code == 403
    second.refresh_from_db()
    assert second.status == Member.Status.ACTIVE
