"""Enrolment: every way a member joins goes through one service, is audited and announced, and earns the joining
bonus once, except members imported from another system's history."""

from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.translation import gettext

from loyalty_site import hooks
from loyalty_site.files.importing import import_apply, import_job_create, import_preview
from loyalty_site.files.models import ImportJob
from members.events import MemberJoined
from members.models import Member, MemberChange
from members.services import MemberError, member_enroll, member_update
from rewards.models import EventRule, LedgerEntry, PointsAccount

HEADER = "member_number;first_name;last_name;email;phone;city"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def joining_rule(db):
    """As the demo sets it up: +100 points for joining, once ever."""
    return EventRule.objects.create(event=EventRule.Event.JOINED, points=100, cap_count=1, cap_period="ever")


@pytest.fixture
def announced():
    """Every set of MemberJoined announced while the test runs, one list per announcement."""
    calls: list[list[MemberJoined]] = []

    def collect(events):
        calls.append(list(events))

    hooks.receiver(MemberJoined)(collect)
    try:
        yield calls
    finally:
        if hasattr(hooks, "unregister"):
            hooks.unregister(MemberJoined, collect)
        else:  # a hooks module without unregister(): take it out of the registry it went into
            hooks._in_transaction[MemberJoined].remove(collect)


def joining_bonuses(member_numbers=None) -> list[tuple[str, int]]:
    entries = LedgerEntry.objects.filter(kind="bonus", idempotency_key__startswith="event:joined:")
    if member_numbers is not None:
        entries = entries.filter(member__member_number__in=member_numbers)
    return sorted(entries.values_list("member__member_number", "points"))


def members_csv(numbers, city="Łódź") -> bytes:
    lines = [HEADER]
    for i, number in enumerate(numbers):
        lines.append(f"{number};Zofia;Wójcik{i};zofia{number}@example.pl;60{number % 10**7:07d};{city}")
    return ("\n".join(lines) + "\n").encode()


def imported(content: bytes, user, **options) -> ImportJob:
    job = import_job_create(
        kind="members", file=SimpleUploadedFile("m.csv", content), name="m.csv", user=user, options=options
    )
    job = import_apply(job=import_preview(job=job))
    assert job.status == "done", job.error_message
    return job


NUMBERS = [3000000001, 3000000002, 3000000003]


# --- The admin --------------------------------------------------------------------------------------


def test_a_member_added_in_the_admin_gets_the_joining_bonus_once(admin_client_, staff_user, joining_rule, announced):
    add = reverse("admin:members_member_add")
    page = admin_client_.get(add)
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({f"{inline.formset.prefix}-{name}": management[name].value() for name in management.fields})
    data.update({"first_name": "Zofia", "last_name": "Wójcik", "email": "zofia@example.pl", "phone": "601111222"})

    response = admin_client_.post(add, data)

    assert response.status_code == 302, response.context["adminform"].form.errors
    member = Member.objects.get(email="zofia@example.pl")
    assert member.join_source == Member.JoinSource.ADMIN
    assert joining_bonuses() == [(member.member_number, 100)]
    assert PointsAccount.objects.get(member=member).balance == 100
    assert announced == [
        [
            MemberJoined(
                member_id=member.pk,
                joined_at=member.joined_at,
                join_source="admin",
                referred_by_id=None,
                welcome=True,
            )
        ]
    ]
    audit = MemberChange.objects.get(member=member)
    assert (audit.field, audit.old_value, audit.new_value, audit.actor, audit.note) == (
        "join_source",
        "",
        "admin",
        staff_user,
        "admin",
    )


# --- The import -------------------------------------------------------------------------------------


def test_imported_members_get_no_joining_bonus_without_the_option(staff_user, joining_rule, announced):
    imported(members_csv(NUMBERS), staff_user)

    assert Member.objects.count() == 3
    assert joining_bonuses() == []
    # Announced all the same (as one set for the chunk), marked as no welcome.
    assert len(announced) == 1
    assert sorted(event.member_id for event in announced[0]) == sorted(Member.objects.values_list("pk", flat=True))
    assert {(event.join_source, event.welcome) for event in announced[0]} == {("import", False)}


def test_imported_members_get_one_joining_bonus_each_with_the_option_and_none_again(
    staff_user, joining_rule, announced
):
    imported(members_csv(NUMBERS), staff_user, award_joining_bonus=True)

    assert joining_bonuses() == [(str(number), 100) for number in NUMBERS]
    assert len(announced) == 1 and len(announced[0]) == 3
    assert all(event.welcome for event in announced[0])

    # The same file again: every row is there already, nothing is enrolled, nothing more is awarded.
    again = imported(members_csv(NUMBERS), staff_user, award_joining_bonus=True)

    assert again.counts == {"skip": 3}
    assert joining_bonuses() == [(str(number), 100) for number in NUMBERS]
    assert len(announced) == 1


def test_an_import_announces_one_set_per_chunk(staff_user, joining_rule, announced, monkeypatch):
    from loyalty_site.files import importing

    monkeypatch.setattr(importing, "CHUNK_SIZE", 2)
    job = import_job_create(
        kind="members",
        file=SimpleUploadedFile("m.csv", members_csv(NUMBERS)),
        name="m.csv",
        user=staff_user,
        options={"award_joining_bonus": True},
    )
    import_apply(job=import_preview(job=job, chunk_size=2), chunk_size=2)

    assert [len(events) for events in announced] == [2, 1]
    assert joining_bonuses() == [(str(number), 100) for number in NUMBERS]


def test_the_import_audits_new_members_as_enrolment_does(staff_user):
    enrolled = member_enroll(
        actor=staff_user, join_source=Member.JoinSource.IMPORT, first_name="Ala", last_name="Nowak", note="x"
    )
    job = imported(members_csv(NUMBERS[:1]), staff_user)
    new = Member.objects.get(member_number=str(NUMBERS[0]))

    def rows(member):
        return list(MemberChange.objects.filter(member=member).values_list("field", "old_value", "new_value", "actor"))

    assert rows(new) == rows(enrolled) == [("join_source", "", "import", staff_user.pk)]
    assert MemberChange.objects.get(member=new).note == f"import #{job.pk}"


def test_the_import_audits_updates_as_member_update_does(staff_user):
    imported(members_csv(NUMBERS[:2]), staff_user)
    by_service, by_import = Member.objects.filter(member_number__in=[str(n) for n in NUMBERS[:2]]).order_by(
        "member_number"
    )
    MemberChange.objects.all().delete()
    member_update(
        member=by_service, actor=staff_user, changes={"city": "Kraków", "email": "zofia3000000001@example.pl"}
    )
    lines = [HEADER, f"{NUMBERS[1]};;;ZOFIA{NUMBERS[1]}@example.pl;;Kraków"]
    job = imported(("\n".join(lines) + "\n").encode(), staff_user)

    def rows(member):
        return sorted(
            MemberChange.objects.filter(member=member).values_list("field", "old_value", "new_value", "actor")
        )

    assert rows(by_service) == [("city", "Łódź", "Kraków", staff_user.pk)]
    assert rows(by_import) == [("city", "Łódź", "Kraków", staff_user.pk)]
    assert set(MemberChange.objects.filter(member=by_import).values_list("note", flat=True)) == {f"import #{job.pk}"}


def test_a_phone_change_by_import_is_stored_and_audited_in_e164(staff_user):
    imported(members_csv(NUMBERS[:1]), staff_user)
    lines = [HEADER, f"{NUMBERS[0]};;;;0048 601-999-888;"]
    imported(("\n".join(lines) + "\n").encode(), staff_user)

    member = Member.objects.get(member_number=str(NUMBERS[0]))
    assert member.phone == "+48601999888"
    change = MemberChange.objects.get(member=member, field="phone")
    assert change.new_value == "+48601999888"


# --- The upload form --------------------------------------------------------------------------------


def test_the_upload_form_offers_the_joining_bonus_unticked_and_the_job_keeps_the_choice(admin_client_, joining_rule):
    page = admin_client_.get(reverse("admin:files_importjob_upload"), {"kind": "members"}).content.decode()
    assert 'name="award_joining_bonus"' in page
    assert "checked" not in page.split('name="award_joining_bonus"')[1].split(">")[0]

    for ticked in (False, True):
        data = {"kind": "members", "file": SimpleUploadedFile("m.csv", members_csv([NUMBERS[int(ticked)]]))}
        if ticked:
            data["award_joining_bonus"] = "on"
        admin_client_.post(reverse("admin:files_importjob_upload"), data)
        job = ImportJob.objects.latest("id")
        assert job.options.get("award_joining_bonus", False) is ticked
        page = admin_client_.get(reverse("admin:files_importjob_change", args=[job.pk])).content.decode()
        # The job page staff confirm on says which it is (in the site's language).
        assert gettext("Joining bonus") in page
        assert (gettext("awarded to new members") in page) is ticked
        admin_client_.post(reverse("admin:files_importjob_confirm", args=[job.pk]))

    assert joining_bonuses() == [(str(NUMBERS[1]), 100)]


def test_other_kinds_of_import_store_no_joining_bonus_option(admin_client_):
    data = {
        "kind": "adjustments",
        "award_joining_bonus": "on",
        "file": SimpleUploadedFile("a.csv", b"adjustment_id;member_number;points;reason\nK-1;1;5;x\n"),
    }
    admin_client_.post(reverse("admin:files_importjob_upload"), data)

    assert "award_joining_bonus" not in ImportJob.objects.latest("id").options


# --- Referrals --------------------------------------------------------------------------------------


def test_a_referral_code_names_the_referrer(staff_user, announced):
    referrer = member_enroll(actor=None, join_source=Member.JoinSource.ONLINE, first_name="Ala", last_name="Nowak")
    member = member_enroll(
        actor=None,
        join_source=Member.JoinSource.REFERRAL,
        first_name="Ola",
        last_name="Wiśniewska",
        referred_by_code=f" {referrer.referral_code.lower()} ",
    )

    assert member.referred_by == referrer and member.join_source == "referral"
    assert announced[-1][0].referred_by_id == referrer.pk


def test_an_unknown_or_inactive_referral_code_enrols_nobody(db, announced):
    referrer = member_enroll(actor=None, join_source=Member.JoinSource.ONLINE, first_name="Ala", last_name="Nowak")
    Member.objects.filter(pk=referrer.pk).update(status=Member.Status.SUSPENDED)

    for code in ("NOPE1234", referrer.referral_code):
        with pytest.raises(MemberError) as info:
            member_enroll(actor=None, join_source="referral", first_name="X", last_name="Y", referred_by_code=code)
        assert str(info.value) == f"Żaden aktywny członek nie ma kodu polecającego '{code}'."

    assert Member.objects.count() == 1 and len(announced) == 1


def test_a_member_joining_with_a_whole_profile_gets_the_profile_bonus_too(joining_rule):
    EventRule.objects.create(event=EventRule.Event.PROFILE_COMPLETED, points=50, cap_count=1, cap_period="ever")
    member = member_enroll(
        actor=None,
        join_source=Member.JoinSource.STORE,
        first_name="Ola",
        last_name="Wiśniewska",
        email="ola@example.pl",
        phone="601 999 888",
        birth_date=date(1990, 5, 1),
        city="Kraków",
        postal_code="30-001",
    )

    assert member.phone == "+48601999888"
    assert PointsAccount.objects.get(member=member).balance == 150
