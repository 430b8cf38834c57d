"""Importing members: preview changes nothing, errors name line and column, re-import changes nothing."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from loyalty_site.files.importing import ImportRefused, import_apply, import_job_create, import_preview
from loyalty_site.files.models import ImportRowError
from members.models import ConsentEvent, ConsentText, LoyaltyCard, Member

HEADER = "member_number;first_name;last_name;email;phone;city;birth_date;card_number;consent_email_marketing"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def members_csv(n: int, bad_lines: dict[int, str] | None = None, encoding: str = "utf-8") -> bytes:
    lines = [HEADER]
    for i in range(n):
        line_number = i + 2
        row = [
            f"{2000000000 + i}",
            "Zofia",
            f"Wójcik{i}",
            f"zofia{i}@example.pl",
            f"60{i:07d}",
            "Łódź",
            "14.02.1988",
            f"CARD{i:06d}",
            "tak" if i % 2 else "nie",
        ]
        if bad_lines and line_number in bad_lines:
            column, value = bad_lines[line_number].split("=", 1)
            row[HEADER.split(";").index(column)] = value
        lines.append(";".join(row))
    return ("\n".join(lines) + "\n").encode(encoding)


def job_for(content: bytes, user, name="members.csv", **kwargs):
    return import_job_create(
        kind="members",
        file=SimpleUploadedFile(name, content),
        name=name,
        user=user,
        options={"consent_version": "1.0"},
        **kwargs,
    )


@pytest.fixture
def consent_text(db):
    return ConsentText.objects.create(channel="email", purpose="marketing", version="1.0", text="Zgoda")


def test_bad_rows_are_reported_by_line_and_column_and_nothing_is_committed(staff_user, consent_text):
    content = members_csv(999, {17: "email=jan.kowalski@", 512: "birth_date=31.02.1990", 998: "phone=12ab"})
    job = import_preview(job=job_for(content, staff_user))
    errors = list(ImportRowError.objects.filter(job=job).values_list("line", "column", "message"))
    assert errors == [
        (17, "email", "'jan.kowalski@' nie jest adresem e-mail"),
        (512, "birth_date", "'31.02.1990' nie jest istniejącą datą"),
        (998, "phone", "'12ab' nie jest numerem telefonu (np. +48601234567 lub 601 234 567)"),
    ]
    assert job.counts == {"new": 996, "invalid": 3}
    assert Member.objects.count() == 0
    with pytest.raises(ImportRefused, match="Plik ma 3 błędne wiersze"):
        import_apply(job=job)
    assert Member.objects.count() == 0


def test_only_valid_rows_when_staff_choose_it(staff_user, consent_text):
    content = members_csv(50, {17: "email=jan.kowalski@"})
    job = import_apply(job=import_preview(job=job_for(content, staff_user, only_valid_rows=True)))
    assert job.status == "done"
    assert Member.objects.count() == 49
    assert LoyaltyCard.objects.count() == 49
    # Odd rows consent; line 17 (row 15, odd) was the invalid one.
    assert ConsentEvent.objects.filter(source="import", granted=True, text=consent_text).count() == 24


def test_importing_the_same_file_twice_changes_nothing(staff_user, consent_text):
    content = members_csv(30)
    import_apply(job=import_preview(job=job_for(content, staff_user)))
    events = ConsentEvent.objects.count()
    again = import_preview(job=job_for(content, staff_user))
    assert again.counts == {"skip": 30}
    import_apply(job=again)
    assert Member.objects.count() == 30 and ConsentEvent.objects.count() == events


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp1250", "iso-8859-2"])
def test_polish_characters_arrive_identical(staff_user, consent_text, encoding):
    import_apply(job=import_preview(job=job_for(members_csv(3, encoding=encoding), staff_user)))
    assert set(Member.objects.values_list("city", flat=True)) == {"Łódź"}
    assert Member.objects.filter(last_name="Wójcik1").exists()


def test_undecodable_file_gives_one_clear_error(staff_user):
    job = import_preview(job=job_for("member_number\n1".encode("utf-16"), staff_user))
    assert job.status == "failed"
    assert job.error_message.startswith("Plik nie jest tekstowym plikiem CSV w obsługiwanym kodowaniu")
    assert Member.objects.count() == 0


def test_missing_required_column_is_named(staff_user):
    job = import_preview(job=job_for(b"first_name;last_name\nJan;Nowak\n", staff_user))
    assert job.status == "failed"
    assert (
        job.error_message == "Wiersz 1: brak wymaganej kolumny member_number. Kolumny w pliku: first_name, last_name."
    )


def test_members_without_consent_columns_get_no_consent(staff_user):
    content = b"member_number,first_name,last_name\n3000000001,Jan,Nowak\n"
    import_apply(job=import_preview(job=job_for(content, staff_user)))
    assert Member.objects.count() == 1 and ConsentEvent.objects.count() == 0


def test_update_records_who_changed_what(staff_user, consent_text):
    import_apply(job=import_preview(job=job_for(members_csv(2), staff_user)))
    changed = members_csv(2).replace(b"\xc5\x81\xc3\xb3d\xc5\xba", "Kraków".encode())
    job = import_apply(job=import_preview(job=job_for(changed, staff_user)))
    assert job.counts == {"update": 2}
    member = Member.objects.get(member_number="2000000000")
    assert member.city == "Kraków"
    change = member.changes.get(field="city")
    assert (change.old_value, change.actor) == ("Łódź", staff_user)


def test_interrupted_import_continues_from_its_checkpoint(staff_user, consent_text, monkeypatch):
    from members import resources

    job = import_preview(job=job_for(members_csv(10), staff_user))
    original = resources.MemberImport.apply
    calls = {"n": 0}

    def crash_on_third_chunk(self, outcomes, *, job):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("worker killed")
        return original(self, outcomes, job=job)

    monkeypatch.setattr(resources.MemberImport, "apply", crash_on_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        import_apply(job=job, chunk_size=3)
    job.refresh_from_db()
    assert (job.processed_rows, Member.objects.count()) == (6, 6)
    monkeypatch.setattr(resources.MemberImport, "apply", original)
    import_apply(job=job, chunk_size=3)
    assert Member.objects.count() == 10 and LoyaltyCard.objects.count() == 10
    _ = io


def test_a_reimported_export_loses_the_formula_guard(staff_user):
    content = b"member_number;first_name;last_name;phone\n3000000009;'=Jan;Nowak;'+48601000999\n"
    import_apply(job=import_preview(job=job_for(content, staff_user)))
    member = Member.objects.get(member_number="3000000009")
    assert (member.first_name, member.phone) == ("=Jan", "+48601000999")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("email", "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".pl"),
    ],
)
def test_a_value_longer_than_the_members_column_is_a_row_error(consent_text, staff_user, column, value):
    previewed = import_preview(job=job_for(members_csv(2, {3: f"{column}={value}"}), staff_user, only_valid_rows=True))

    error = ImportRowError.objects.get(job=previewed)
    assert (error.line, error.column) == (3, column)
    assert import_apply(job=previewed).status == "done"
    assert Member.objects.count() == 1


def test_a_joining_date_at_the_end_of_the_calendar_is_a_row_error(consent_text, staff_user):
    header, first, second, third = members_csv(3).decode().strip().split("\n")
    content = "\n".join(
        [header + ";joined_at", first + ";0001-01-01", second + ";31.12.9999 23:59", third + ";2025-06-01"]
    ).encode()
    previewed = import_preview(job=job_for(content, staff_user, only_valid_rows=True))

    errors = list(ImportRowError.objects.filter(job=previewed).values_list("line", "column"))
    assert errors == [(2, "joined_at"), (3, "joined_at")]
    assert import_apply(job=previewed).status == "done"
    assert Member.objects.count() == 1
