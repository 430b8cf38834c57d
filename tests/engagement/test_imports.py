"""Challenges and badges imported from files: checked by the admin's own form, matched on code, nothing
half-applied, the same file twice changes nothing, XLSX as CSV, and only the roles that may add them."""

import io
from datetime import datetime
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone, translation

from loyalty_site.files.importing import ImportRefused, import_apply, import_job_create, import_preview, template_csv
from loyalty_site.files.models import ImportJob, ImportRowError
from rewards.engagement.models import Badge, Challenge

pytestmark = pytest.mark.django_db


def run_import(kind: str, content: bytes, user, *, name: str | None = None, only_valid_rows=False) -> ImportJob:
    name = name or f"{kind}.csv"
    job = import_job_create(
        kind=kind, file=SimpleUploadedFile(name, content), name=name, user=user, only_valid_rows=only_valid_rows
    )
    return import_preview(job=job)


def errors_of(job: ImportJob) -> list[tuple[int, str, str]]:
    return list(ImportRowError.objects.filter(job=job).order_by("line", "id").values_list("line", "column", "message"))


def local(*args) -> datetime:
    return timezone.make_aware(datetime(*args))


BADGES = (
    "code;name;description;milestone;tier;is_active\n"
    "kawosz;Kawosz;Za trzy kawy;;;tak\n"
    "rok-z-nami;Rok z nami;;Rok w programie;;\n"
    "zloty;Złoty klient;;tier_reached;gold;\n"
)
CHALLENGES_HEADER = "code;name;kind;target;category;starts_at;ends_at;points;badge;audience;tier"
CHALLENGES = (
    f"{CHALLENGES_HEADER}\n"
    "lato-3;Trzy zakupy latem;purchases;3;;01.06.2026;31.08.2026;300;;;\n"
    "wydaj-250;Wydaj 250 zł;Wydaj X zł;250,50;;2026-06-01 08:00;2026-07-01 00:00;0;kawosz;tier;silver\n"
    "kawa;Kawa 3 razy;category;3;Kawa;01.06.2026;30.06.2026;50;kawosz;;\n"
)


@pytest.fixture
def badges(staff_user, tiers):
    return import_apply(job=run_import("badges", BADGES.encode(), staff_user))


def test_a_badges_file_creates_badges_with_milestone_names_and_tiers(badges, tiers):
    assert badges.status == ImportJob.Status.DONE
    assert badges.counts == {"new": 3}
    rok = Badge.objects.get(code="rok-z-nami")
    assert rok.milestone == Badge.Milestone.ONE_YEAR  # the Polish name of the milestone
    assert rok.is_active
    zloty = Badge.objects.get(code="zloty")
    assert (zloty.milestone, zloty.tier) == (Badge.Milestone.TIER_REACHED, tiers[2])
    assert Badge.objects.get(code="kawosz").description == "Za trzy kawy"


def test_a_challenges_file_creates_challenges_as_the_admin_would(badges, staff_user, tiers):
    job = import_apply(job=run_import("challenges", CHALLENGES.encode(), staff_user))
    assert job.status == ImportJob.Status.DONE, job.error_message
    assert job.counts == {"new": 3}
    lato = Challenge.objects.get(code="lato-3")
    assert (lato.kind, lato.target, lato.points, lato.badge, lato.audience) == (
        Challenge.Kind.PURCHASES,
        Decimal("3"),
        300,
        None,
        Challenge.Audience.EVERYONE,
    )
    # A date alone: from the start of the first day, up to the end of the last (the end is exclusive).
    assert lato.starts_at == local(2026, 6, 1)
    assert lato.ends_at == local(2026, 9, 1)
    spend = Challenge.objects.get(code="wydaj-250")
    assert (spend.kind, spend.target, spend.points) == (Challenge.Kind.SPEND, Decimal("250.50"), 0)
    assert (spend.badge.code, spend.audience, spend.tier) == ("kawosz", Challenge.Audience.TIER, tiers[1])
    assert (spend.starts_at, spend.ends_at) == (local(2026, 6, 1, 8), local(2026, 7, 1))
    assert Challenge.objects.get(code="kawa").category == "Kawa"


def test_the_same_file_twice_changes_nothing_and_a_changed_row_updates_only_its_columns(badges, staff_user):
    import_apply(job=run_import("challenges", CHALLENGES.encode(), staff_user))
    again = run_import("challenges", CHALLENGES.encode(), staff_user)
    assert again.counts == {"skip": 3}
    import_apply(job=again)
    assert Challenge.objects.count() == 3

    changed = run_import("challenges", b"code;points;is_active\nlato-3;450;nie\n", staff_user)
    assert changed.counts == {"update": 1}
    import_apply(job=changed)
    lato = Challenge.objects.get(code="lato-3")
    assert (lato.points, lato.is_active, lato.name, lato.ends_at) == (
        450,
        False,
        "Trzy zakupy latem",
        local(2026, 9, 1),
    )
    assert run_import("badges", BADGES.encode(), staff_user).counts == {"skip": 3}


BAD_CHALLENGES = (
    f"{CHALLENGES_HEADER}\n"
    "dobry;Dobry wiersz;purchases;3;;01.06.2026;30.06.2026;100;;;\n"  # 2: valid
    "bez-nagrody;Bez nagrody;purchases;3;;01.06.2026;30.06.2026;0;;;\n"  # 3: no prize
    "odwrocone;Odwrócone daty;purchases;3;;30.06.2026;01.06.2026;100;;;\n"  # 4: ends before it starts
    "ulamek;Ułamek;purchases;2,5;;01.06.2026;30.06.2026;100;;;\n"  # 5: purchases counted whole
    "brak-odznaki;Brak odznaki;purchases;3;;01.06.2026;30.06.2026;100;nie-ma;;\n"  # 6: unknown badge
    "zly-rodzaj;Zły rodzaj;wszystko;3;;32.06.2026;30.06.2026;100;;tier;\n"  # 7: kind, date
    "bez-progu;Próg;purchases;3;;01.06.2026;30.06.2026;100;;tier;\n"  # 8: tier audience without tier
    ";Bez kodu;purchases;3;;01.06.2026;30.06.2026;100;;;\n"  # 9: no code
    "Zły kod!;Zły kod;purchases;3;;01.06.2026;30.06.2026;100;;;\n"  # 10: not a slug
    "dobry;Drugi raz;purchases;3;;01.06.2026;30.06.2026;100;;;\n"  # 11: the same code again
    "nowy;;;;;;;;;;\n"  # 12: a new challenge with nothing filled in
)


def test_bad_rows_are_named_by_line_and_column_and_nothing_is_imported(staff_user, badges):
    job = run_import("challenges", BAD_CHALLENGES.encode(), staff_user)
    assert job.status == ImportJob.Status.PREVIEWED
    assert job.counts == {"new": 1, "invalid": 10}
    errors = errors_of(job)
    by_line: dict[int, list[tuple[str, str]]] = {}
    for line, column, message in errors:
        by_line.setdefault(line, []).append((column, message))
    assert by_line[3] == [("", "A challenge needs a prize: points, a badge or both.")]
    assert by_line[4] == [("", "The end must be later than the start.")]
    assert by_line[5] == [("target", "This kind of challenge counts whole numbers.")]
    assert by_line[6] == [("badge", "no badge with code 'nie-ma' (import the badges first)")]
    assert (
        "kind",
        "'wszystko' is not one of: purchases, spend, category, new_store, profile, referrals, "
        "first_purchase (or their names)",
    ) in by_line[7]
    assert ("starts_at", "'32.06.2026' is not a real date") in by_line[7]
    assert by_line[8] == [("", "Pick the tier of the audience.")]
    assert by_line[9] == [("code", "is empty")]
    assert by_line[10][0][0] == "code"
    assert by_line[11] == [("code", "appears more than once in the file")]
    assert {column for column, _message in by_line[12]} >= {"name", "kind", "starts_at", "ends_at"}
    assert 2 not in by_line

    with pytest.raises(ImportRefused):
        import_apply(job=job)
    assert not Challenge.objects.exists()  # nothing half-applied


def test_only_the_valid_rows_when_staff_choose_so(staff_user, badges):
    job = run_import("challenges", BAD_CHALLENGES.encode(), staff_user, only_valid_rows=True)
    job = import_apply(job=job)
    assert job.status == ImportJob.Status.DONE
    assert list(Challenge.objects.values_list("code", flat=True)) == ["dobry"]


def test_an_update_is_checked_with_the_values_it_keeps(staff_user, badges):
    """A row that changes only the start is checked against the end the challenge already has."""
    import_apply(job=run_import("challenges", CHALLENGES.encode(), staff_user))
    job = run_import("challenges", b"code;starts_at\nlato-3;01.10.2026\n", staff_user)
    assert errors_of(job) == [(2, "", "The end must be later than the start.")]
    assert Challenge.objects.get(code="lato-3").starts_at == local(2026, 6, 1)


def test_a_badge_row_is_refused_as_the_admin_refuses_it(staff_user, tiers):
    content = "code;name;milestone;tier\nbez-progu;Bez progu;tier_reached;\nzly;Zły;gwiazdka;brak\n"
    job = run_import("badges", content.encode(), staff_user)
    errors = errors_of(job)
    assert (2, "", "A 'tier reached' badge needs a tier.") in errors
    assert (3, "tier", "no tier with code 'brak' (the tiers are: bronze, silver, gold)") in errors
    assert any(line == 3 and column == "milestone" for line, column, _m in errors)


def test_errors_are_in_polish_for_a_polish_site(staff_user, badges, settings):
    with translation.override("pl"):
        job = run_import("challenges", BAD_CHALLENGES.encode(), staff_user)
    messages = {(line, column): message for line, column, message in errors_of(job)}
    assert messages[(9, "code")] == "brak wartości"
    assert messages[(12, "name")] == "To pole jest wymagane."


def _xlsx(rows: list[list]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_an_xlsx_file_with_real_dates_and_numbers_imports(staff_user, badges):
    content = _xlsx(
        [
            ["code", "name", "kind", "target", "starts_at", "ends_at", "points", "badge"],
            ["xlsx-1", "Z arkusza", "spend", 199.99, datetime(2026, 6, 1, 9, 30), datetime(2026, 7, 1), 120, "kawosz"],
        ]
    )
    job = import_apply(job=run_import("challenges", content, staff_user, name="challenges.xlsx"))
    assert job.status == ImportJob.Status.DONE, (job.error_message, errors_of(job))
    challenge = Challenge.objects.get(code="xlsx-1")
    assert (challenge.target, challenge.points, challenge.badge.code) == (Decimal("199.99"), 120, "kawosz")
    assert challenge.starts_at == local(2026, 6, 1, 9, 30)


def test_the_templates_import(staff_user):
    assert import_apply(job=run_import("badges", template_csv("badges").encode(), staff_user)).counts == {"new": 1}
    job = import_apply(job=run_import("challenges", template_csv("challenges").encode(), staff_user))
    assert job.counts == {"new": 1}, errors_of(job)


def test_the_admin_export_imports_back_unchanged(staff_user, badges, client):
    import_apply(job=run_import("challenges", CHALLENGES.encode(), staff_user))
    client.force_login(staff_user)
    response = client.post(
        reverse("admin:engagement_challenge_export"),
        {"format": "0", "resource": "0", **{f"challengeresource_{name}": "on" for name in _export_fields()}},
    )
    assert response.status_code == 200, response.content[:500]
    content = b"".join(response.streaming_content) if response.streaming else response.content
    job = run_import("challenges", content, staff_user)
    assert job.counts == {"skip": 3}, errors_of(job)


def _export_fields() -> list[str]:
    from rewards.engagement.resources import ChallengeResource

    return list(ChallengeResource._meta.fields)


@pytest.mark.parametrize(("role", "allowed"), [("Marketing", True), ("Programme manager", True), ("Support", False)])
def test_only_roles_that_may_add_challenges_may_import_them(role_client, role, allowed):
    client = role_client(role)
    url = reverse("admin:files_importjob_upload")
    for kind in ("challenges", "badges"):
        response = client.get(url, {"kind": kind})
        assert (response.status_code == 200) is allowed, (kind, response.status_code)
        template = client.get(reverse("admin:files_importjob_template", args=[kind]))
        assert (template.status_code == 200) is allowed
        changelist = client.get(reverse(f"admin:engagement_{kind[:-1]}_changelist"))
        assert changelist.status_code == 200
        assert (f"importjob/upload/?kind={kind}" in changelist.content.decode()) is allowed
