"""The reward catalog and partners: database rules, what is available, imports, the admin and the export."""

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from loyalty_site.files.importing import ImportRefused, import_apply, import_job_create, import_preview, template_csv
from loyalty_site.files.models import ImportJob, ImportRowError
from rewards.catalog import rewards_available
from rewards.models import Partner, Reward, nip_is_valid, validate_nip

VALID_NIP = "1234563218"  # 123-456-32-18, the usual test NIP: its check digit is right


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def partner(db):
    return Partner.objects.create(code="kino-helios", name="Kino Helios", email="partnerzy@helios.pl")


def make_reward(code="kino-2-bilety", **kwargs) -> Reward:
    fields = {"name": "Dwa bilety do kina", "kind": Reward.Kind.VOUCHER, "points_cost": 1500, **kwargs}
    return Reward.objects.create(code=code, **fields)


# --- The database keeps the catalog sane -----------------------------------------------------------


@pytest.mark.parametrize(
    "fields",
    [
        {"points_cost": 0},
        {"stock": -1},
        {"per_member_limit": 0},
        {"cash_value": Decimal("-1.00")},
        {"available_from": datetime(2026, 5, 1, tzinfo=UTC), "available_until": datetime(2026, 4, 1, tzinfo=UTC)},
        {"available_from": datetime(2026, 5, 1, tzinfo=UTC), "available_until": datetime(2026, 5, 1, tzinfo=UTC)},
    ],
    ids=["cost-zero", "stock-negative", "limit-zero", "value-negative", "ends-before-start", "ends-when-starts"],
)
def test_the_database_refuses_an_impossible_reward(db, fields):
    with pytest.raises(IntegrityError), transaction.atomic():
        make_reward(**fields)


def test_the_database_refuses_a_nip_that_is_not_ten_digits(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        Partner.objects.create(code="x", name="X", email="x@example.pl", nip="123-456-32")


def test_a_form_reports_a_reversed_period_in_words(db):
    reward = Reward(
        code="x",
        name="X",
        kind=Reward.Kind.PRODUCT,
        points_cost=10,
        available_from=timezone.now(),
        available_until=timezone.now() - timedelta(days=1),
    )
    with pytest.raises(ValidationError) as error:
        reward.full_clean()
    assert error.value.message_dict == {"available_until": ["„Dostępna do” musi być późniejsza niż „dostępna od”."]}


@pytest.mark.parametrize(
    ("nip", "valid"),
    [(VALID_NIP, True), ("1234563219", False), ("123456321", False), ("0000000000", True), ("12345632a8", False)],
)
def test_nip_checksum(nip, valid):
    assert nip_is_valid(nip) is valid


def test_the_nip_validator_explains_a_wrong_check_digit():
    validate_nip("")  # optional
    with pytest.raises(ValidationError, match="nie jest poprawnym numerem NIP"):
        validate_nip("1234563219")


# --- What members can be offered -------------------------------------------------------------------


def test_available_rewards_are_active_in_their_dates_in_stock_and_from_active_partners(partner):
    now = timezone.now()
    offered = {
        make_reward("plain"),
        make_reward("in-dates", available_from=now - timedelta(days=1), available_until=now + timedelta(days=1)),
        make_reward("last-one", stock=1),
        make_reward("partner-active", partner=partner),
    }
    make_reward("inactive", is_active=False)
    make_reward("not-yet", available_from=now + timedelta(hours=1))
    make_reward("ended", available_until=now - timedelta(hours=1))
    make_reward("sold-out", stock=0)
    closed = Partner.objects.create(code="closed", name="Zamknięty", email="z@example.pl", is_active=False)
    make_reward("partner-inactive", partner=closed)

    assert set(rewards_available(at=now)) == offered
    later = {r.code for r in rewards_available(at=now + timedelta(days=2))}
    assert later == {"plain", "last-one", "partner-active", "not-yet"}


# --- Imports ---------------------------------------------------------------------------------------


def run_import(kind: str, content: bytes, user, *, name: str | None = None, only_valid_rows=False) -> ImportJob:
    name = name or f"{kind}.csv"
    job = import_job_create(
        kind=kind, file=SimpleUploadedFile(name, content), name=name, user=user, only_valid_rows=only_valid_rows
    )
    return import_preview(job=job)


def errors_of(job: ImportJob) -> list[tuple[int, str, str]]:
    return list(ImportRowError.objects.filter(job=job).order_by("line", "id").values_list("line", "column", "message"))


PARTNERS = (
    "code;name;legal_name;nip;email;phone;website;is_active\n"
    "kino-helios;Kino Helios;Helios S.A.;PL 123-456-32-18;Partnerzy@Helios.pl;22 123 45 67;www.helios.pl;tak\n"
    "ksiegarnia;Księgarnia Świat Książki;;;kontakt@swiatksiazki.pl;;;\n"
)
REWARDS_HEADER = "code;name;kind;category;points_cost;cash_value;partner;min_tier;stock;available_from;available_until"
REWARDS = (
    f"{REWARDS_HEADER}\n"
    "kino-2-bilety;Dwa bilety do kina;voucher;Kino;1500;58,00;kino-helios;silver;200;01.03.2026;31.12.2026\n"
    "kubek;Kubek z logo;Produkt (upominek);Gadżety;300;1 234,50;;;;;\n"
    "fundacja;Darowizna dla schroniska;darowizna;Pomagamy;500;;;;;2026-01-01 08:00;\n"
)


def test_partners_import_creates_partners_with_normalised_contacts(staff_user):
    job = import_apply(job=run_import("partners", PARTNERS.encode(), staff_user))

    assert job.status == ImportJob.Status.DONE and job.options["applied"] == {"new": 2}
    helios = Partner.objects.get(code="kino-helios")
    assert (helios.nip, helios.email, helios.phone, helios.website) == (
        VALID_NIP,
        "partnerzy@helios.pl",
        "+48221234567",
        "https://www.helios.pl",
    )
    assert Partner.objects.get(code="ksiegarnia").is_active is True


def test_rewards_import_creates_rewards_with_partner_tier_polish_kind_and_decimal(staff_user, partner, tiers):
    job = import_apply(job=run_import("rewards", REWARDS.encode(), staff_user))

    assert job.status == ImportJob.Status.DONE and job.options["applied"] == {"new": 3}
    cinema = Reward.objects.get(code="kino-2-bilety")
    assert (cinema.partner, cinema.min_tier.code, cinema.stock, cinema.cash_value) == (
        partner,
        "silver",
        200,
        Decimal("58.00"),
    )
    warsaw = timezone.get_current_timezone()
    assert cinema.available_from == datetime(2026, 3, 1, tzinfo=warsaw)
    # A date alone in available_until means the whole of that day.
    assert cinema.available_until == datetime(2026, 12, 31, 23, 59, 59, tzinfo=warsaw)
    mug = Reward.objects.get(code="kubek")
    assert (mug.kind, mug.cash_value, mug.partner, mug.stock, mug.is_active) == (
        Reward.Kind.PRODUCT,
        Decimal("1234.50"),
        None,
        None,
        True,
    )
    assert Reward.objects.get(code="fundacja").kind == Reward.Kind.DONATION


def test_the_same_rewards_file_twice_changes_nothing_the_second_time(staff_user, partner, tiers):
    import_apply(job=run_import("rewards", REWARDS.encode(), staff_user))
    before = {r.code: r.updated_at for r in Reward.objects.all()}

    second = run_import("rewards", REWARDS.encode(), staff_user)
    assert second.counts == {"skip": 3}
    import_apply(job=second)

    assert {r.code: r.updated_at for r in Reward.objects.all()} == before


def test_a_changed_row_updates_only_the_columns_it_fills(staff_user, partner):
    reward = make_reward(partner=partner, stock=10, category="Kino", description="Opis")
    content = "code;name;points_cost;stock;category\nkino-2-bilety;;1200;0;\n"

    job = run_import("rewards", content.encode(), staff_user)
    assert job.counts == {"update": 1}
    import_apply(job=job)

    reward.refresh_from_db()
    assert (reward.points_cost, reward.stock) == (1200, 0)
    assert (reward.name, reward.category, reward.description, reward.partner) == (
        "Dwa bilety do kina",
        "Kino",
        "Opis",
        partner,
    )


def test_the_same_partners_file_twice_is_skipped_and_a_change_is_an_update(staff_user):
    import_apply(job=run_import("partners", PARTNERS.encode(), staff_user))
    assert run_import("partners", PARTNERS.encode(), staff_user).counts == {"skip": 2}

    changed = run_import("partners", b"code;is_active;nip\nksiegarnia;nie;123-456-32-18\n", staff_user)
    assert changed.counts == {"update": 1}
    import_apply(job=changed)
    bookshop = Partner.objects.get(code="ksiegarnia")
    assert (bookshop.is_active, bookshop.nip) == (False, VALID_NIP)


def test_rows_naming_an_unknown_partner_tier_or_kind_are_refused_by_line_and_column(staff_user, partner, tiers):
    content = (
        f"{REWARDS_HEADER}\n"
        "a;A;voucher;;100;;brak-partnera;;;;\n"
        "b;B;voucher;;100;;;platinum;;;\n"
        "c;C;pocztówka;;100;;;;;;\n"
        "d;D;product;;100;;kino-helios;gold;;;\n"
    )
    job = run_import("rewards", content.encode(), staff_user)

    assert job.counts == {"invalid": 3, "new": 1}
    assert errors_of(job) == [
        (2, "partner", "brak partnera o kodzie 'brak-partnera' (najpierw zaimportuj partnerów)"),
        (3, "min_tier", "brak poziomu o kodzie 'platinum' (istniejące poziomy: bronze, silver, gold)"),
        (
            4,
            "kind",
            "'pocztówka' nie jest rodzajem nagrody: użyj product, voucher, discount, free_delivery, experience, "
            "partner_offer, donation (albo polskiej nazwy)",
        ),
    ]
    with pytest.raises(ImportRefused):
        import_apply(job=job)
    assert not Reward.objects.exists()


def test_rows_with_bad_values_name_the_column_and_the_problem(staff_user, partner):
    make_reward("ma-okres", available_from=datetime(2026, 6, 1, tzinfo=timezone.get_current_timezone()))
    content = (
        "code;name;kind;points_cost;cash_value;stock;per_member_limit;available_from;available_until;is_active\n"
        "zero;Z;product;0;;;;;;\n"
        "ulamek;U;product;12,5;;;;;;\n"
        "grosze;G;product;10;1,999;;;;;\n"
        "minus;M;product;10;;-3;;;;\n"
        "limit;L;product;10;;;0;;;\n"
        "okres;O;product;10;;;;01.05.2026;30.04.2026;\n"
        "ma-okres;;;;;;;;31.05.2026;\n"
        "flaga;F;product;10;;;;;;może\n"
        "data;D;product;10;;;;32.01.2026;;\n"
        ";bez kodu;product;10;;;;;;\n"
        "nowa;;;;;;;;;\n"
        "zero;Z;product;10;;;;;;\n"
    )
    job = run_import("rewards", content.encode(), staff_user)

    assert job.counts == {"invalid": 12}
    assert [(line, column) for line, column, _message in errors_of(job)] == [
        (2, "points_cost"),
        (3, "points_cost"),
        (4, "cash_value"),
        (5, "stock"),
        (6, "per_member_limit"),
        (7, "available_until"),
        (8, "available_until"),
        (9, "is_active"),
        (10, "available_from"),
        (11, "code"),
        (12, "name"),
        (12, "kind"),
        (12, "points_cost"),
        (13, "code"),
    ]
    messages = {(line, column): message for line, column, message in errors_of(job)}
    assert messages == {
        (2, "points_cost"): "'0' musi być liczbą większą od zera",
        (3, "points_cost"): "'12,5' nie jest liczbą całkowitą większą od zera",
        (4, "cash_value"): "'1,999' ma więcej niż 2 miejsca po przecinku",
        (5, "stock"): "'-3' nie jest liczbą całkowitą równą 0 lub większą",
        (6, "per_member_limit"): "'0' musi być liczbą większą od zera",
        (7, "available_until"): "musi być późniejsza niż available_from (01.05.2026 00:00)",
        (8, "available_until"): "musi być późniejsza niż available_from (01.06.2026 00:00)",
        (9, "is_active"): "'może' nie jest wartością tak/nie (użyj tak/nie lub 1/0)",
        (10, "available_from"): "'32.01.2026' nie jest istniejącą datą",
        (11, "code"): "brak wartości",
        (12, "name"): "wartość wymagana dla nowej nagrody",
        (12, "kind"): "wartość wymagana dla nowej nagrody",
        (12, "points_cost"): "wartość wymagana dla nowej nagrody",
        (13, "code"): "występuje w pliku więcej niż raz",
    }


def test_partner_rows_with_bad_values_are_refused(staff_user):
    content = (
        "code;name;email;nip;website;phone\n"
        "a;A;a@example.pl;123-456-32-19;;\n"
        "b;B;nie-email;;;\n"
        "c;C;c@example.pl;;nie adres;\n"
        "d;D;d@example.pl;;;12ab\n"
        "e;E;;;;\n"
        "z ł;Z;z@example.pl;;;\n"
    )
    job = run_import("partners", content.encode(), staff_user)

    assert errors_of(job) == [
        (2, "nip", "'123-456-32-19' nie jest poprawnym numerem NIP: 10 cyfr z prawidłową cyfrą kontrolną"),
        (3, "email", "'nie-email' nie jest adresem e-mail"),
        (4, "website", "'nie adres' nie jest adresem strony internetowej (np. https://www.helios.pl)"),
        (5, "phone", "'12ab' nie jest numerem telefonu (np. +48601234567 lub 601 234 567)"),
        (6, "email", "wartość wymagana dla nowego partnera"),
        (7, "code", "może zawierać tylko litery, cyfry, '-' i '_' (najwyżej 30 znaków)"),
    ]


def test_a_windows_1250_file_with_polish_letters_imports_them_intact(staff_user, partner):
    content = (
        "code;name;kind;category;points_cost;description\n"
        "zolw;Żółw pluszowy;zniżka;Zabawki dla dzieci;250;Łagodny, miękki — świetny prezent\n"
    ).encode("cp1250")
    job = run_import("rewards", content, staff_user)
    assert job.encoding == "cp1250"
    import_apply(job=job)

    reward = Reward.objects.get(code="zolw")
    assert (reward.name, reward.kind) == ("Żółw pluszowy", Reward.Kind.DISCOUNT)
    assert reward.description == "Łagodny, miękki — świetny prezent"


def test_the_template_row_imports(staff_user, partner, tiers):
    """The template's example row is itself a valid row (once its partner exists)."""
    job = import_apply(job=run_import("rewards", template_csv("rewards").encode(), staff_user))
    assert job.options["applied"] == {"new": 1}
    assert Reward.objects.get().partner == partner


def test_import_queries_do_not_grow_with_the_rows(staff_user, partner, tiers):
    def rows(n: int, cost: int) -> bytes:
        lines = [f"r-{i};Nagroda {i};product;{cost};kino-helios;silver" for i in range(n)]
        return ("code;name;kind;points_cost;partner;min_tier\n" + "\n".join(lines) + "\n").encode()

    def queries(content: bytes) -> int:
        job = run_import("rewards", content, staff_user)
        with CaptureQueriesContext(connection) as captured:
            import_apply(job=job)
        return len(captured)

    created_few = queries(rows(5, 100))
    Reward.objects.all().delete()
    created_many = queries(rows(60, 100))
    updated_few, updated_many = queries(rows(5, 200)), queries(rows(60, 300))
    assert Reward.objects.filter(points_cost=300).count() == 60
    assert created_few == created_many
    assert updated_few == updated_many


# --- The admin -------------------------------------------------------------------------------------


@pytest.fixture
def admin_client_(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.mark.parametrize(
    "url_name", ["admin:rewards_reward_changelist", "admin:rewards_reward_add", "admin:rewards_partner_changelist"]
)
def test_the_catalog_pages_open_for_a_superuser(admin_client_, partner, url_name):
    make_reward(partner=partner)
    assert admin_client_.get(reverse(url_name)).status_code == 200


@pytest.mark.parametrize(
    "query", ["?availability=now", "?availability=scheduled", "?availability=ended", "?availability=out_of_stock"]
)
def test_the_availability_filter_lists_the_matching_rewards(admin_client_, query):
    now = timezone.now()
    make_reward("now")
    make_reward("scheduled", available_from=now + timedelta(days=1))
    make_reward("ended", available_until=now - timedelta(days=1))
    make_reward("out_of_stock", stock=0)

    response = admin_client_.get(reverse("admin:rewards_reward_changelist") + query)

    assert [r.code for r in response.context["cl"].result_list] == [query.split("=")[1]]


def test_the_reward_list_runs_the_same_queries_for_many_rewards(
    admin_client_, partner, tiers, django_assert_max_num_queries
):
    for i in range(60):
        make_reward(f"r-{i}", partner=partner, min_tier=tiers[i % 3])
    with django_assert_max_num_queries(12):
        assert admin_client_.get(reverse("admin:rewards_reward_changelist")).status_code == 200


def test_the_search_finds_rewards_by_partner_name(admin_client_, partner):
    make_reward("kino", partner=partner)
    make_reward("kubek", name="Kubek")

    response = admin_client_.get(reverse("admin:rewards_reward_changelist"), {"q": "Helios"})

    assert [r.code for r in response.context["cl"].result_list] == ["kino"]


def test_staff_add_a_partner_with_the_nip_as_they_have_it(admin_client_):
    response = admin_client_.post(
        reverse("admin:rewards_partner_add"),
        {
            "name": "Kino Helios",
            "code": "kino-helios",
            "nip": "PL 123-456-32-18",
            "email": "partnerzy@helios.pl",
            "phone": "22 123 45 67",
            "is_active": "on",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Partner.objects.get().nip == VALID_NIP


def test_a_wrong_nip_is_refused_on_the_partner_form(admin_client_):
    response = admin_client_.post(
        reverse("admin:rewards_partner_add"),
        {"name": "X", "code": "x", "nip": "123-456-32-19", "email": "x@example.pl"},
    )

    assert response.status_code == 200
    assert "nip" in response.context["adminform"].form.errors
    assert not Partner.objects.exists()


def test_staff_add_a_reward_and_a_reversed_period_is_refused(admin_client_, partner):
    data = {
        "name": "Dwa bilety",
        "code": "dwa-bilety",
        "kind": "voucher",
        "points_cost": "1500",
        "partner": partner.pk,
        "is_active": "on",
        "available_from_0": "2026-05-01",
        "available_from_1": "00:00",
        "available_until_0": "2026-04-01",
        "available_until_1": "00:00",
    }
    refused = admin_client_.post(reverse("admin:rewards_reward_add"), data)
    assert refused.status_code == 200 and not Reward.objects.exists()
    form = refused.context["adminform"].form
    # Beside the field it is about, not at the top of the form.
    assert form.errors == {"available_until": ["„Dostępna do” musi być późniejsza niż „dostępna od”."]}

    data["available_until_0"] = "2026-06-01"
    assert admin_client_.post(reverse("admin:rewards_reward_add"), data).status_code == 302
    assert Reward.objects.get().partner == partner


def test_the_partner_filter_names_rewards_without_a_partner(admin_client_, partner):
    Reward.objects.create(name="Kawa", code="kawa", kind="product", points_cost=100)
    Reward.objects.create(name="Kino", code="kino", kind="voucher", points_cost=900, partner=partner)

    page = admin_client_.get(reverse("admin:rewards_reward_changelist"))
    without = admin_client_.get(reverse("admin:rewards_reward_changelist") + "?partner__isnull=True")

    assert "Bez partnera (nagroda własna)" in page.content.decode()
    assert [reward.code for reward in without.context["cl"].result_list] == ["kawa"]


def test_support_sees_the_catalog_but_may_not_add_to_it(role_client, partner):
    client = role_client("Support")
    make_reward(partner=partner)

    changelist = client.get(reverse("admin:rewards_reward_changelist"))
    assert changelist.status_code == 200
    assert reverse("admin:rewards_reward_add") not in changelist.content.decode()
    assert client.get(reverse("admin:rewards_reward_add")).status_code == 403
    assert client.get(reverse("admin:rewards_partner_add")).status_code == 403


def test_marketing_may_change_rewards_but_not_add_them_or_partners(role_client, partner):
    client = role_client("Marketing")
    reward = make_reward()

    assert client.get(reverse("admin:rewards_reward_change", args=[reward.pk])).status_code == 200
    assert client.get(reverse("admin:rewards_reward_add")).status_code == 403
    assert client.get(reverse("admin:rewards_partner_add")).status_code == 403


def test_the_programme_manager_may_delete_a_reward(role_client):
    client = role_client("Programme manager")
    reward = make_reward()

    response = client.post(reverse("admin:rewards_reward_delete", args=[reward.pk]), {"post": "yes"})

    assert response.status_code == 302 and not Reward.objects.exists()


# --- The import page -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["rewards", "partners"])
def test_the_import_page_offers_the_catalog_imports_and_their_templates(admin_client_, kind):
    page = admin_client_.get(reverse("admin:files_importjob_upload"), {"kind": kind})
    assert page.status_code == 200
    assert f'value="{kind}"' in page.content.decode()
    template_url = reverse("admin:files_importjob_template", args=[kind])
    assert template_url in page.content.decode()

    template = admin_client_.get(template_url)

    assert template.status_code == 200
    assert template["Content-Disposition"] == f'attachment; filename="{kind}-template.csv"'
    assert template.content.decode("utf-8").startswith("\ufeffcode;name;")


def test_support_may_not_import_the_catalog(role_client):
    client = role_client("Support")
    assert client.get(reverse("admin:files_importjob_template", args=["rewards"])).status_code == 403
    assert client.get(reverse("admin:files_importjob_upload"), {"kind": "partners"}).status_code == 403


def test_the_programme_manager_uploads_a_rewards_file_from_the_admin(role_client, partner, tiers):
    client = role_client("Programme manager")

    response = client.post(
        reverse("admin:files_importjob_upload"),
        {"kind": "rewards", "file": SimpleUploadedFile("nagrody.csv", REWARDS.encode())},
    )

    assert response.status_code == 302
    job = ImportJob.objects.get()
    assert (job.kind, job.status, job.counts) == ("rewards", ImportJob.Status.PREVIEWED, {"new": 3})


# --- The export ------------------------------------------------------------------------------------


def export_csv(client, url_name: str, query: str = "") -> list[dict]:
    url = reverse(url_name) + query
    page = client.get(url)
    assert page.status_code == 200
    form = page.context["form"]
    formats = {title: value for value, title in form.fields["format"].choices if value != ""}
    data = {"format": formats["csv"], "resource": "0"}
    data.update({name: "on" for name, field in form.fields.items() if getattr(field, "is_selectable_field", False)})
    response = client.post(url, data)
    assert response.status_code == 200, response.content[:500]
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))


def test_the_reward_export_has_the_import_columns_and_follows_the_filter(admin_client_, partner, tiers):
    make_reward(partner=partner, min_tier=tiers[1], cash_value=Decimal("58.00"), stock=200)
    make_reward("kubek", name="=Kubek", kind=Reward.Kind.PRODUCT, points_cost=300)

    rows = export_csv(admin_client_, "admin:rewards_reward_export", "?kind__exact=voucher")

    assert len(rows) == 1
    row = rows[0]
    assert list(row)[:9] == [
        "code",
        "name",
        "kind",
        "category",
        "points_cost",
        "cash_value",
        "partner",
        "min_tier",
        "stock",
    ]
    assert (row["code"], row["kind"], row["partner"], row["min_tier"], row["cash_value"], row["stock"]) == (
        "kino-2-bilety",
        "voucher",
        "kino-helios",
        "silver",
        "58.00",
        "200",
    )
    (mug,) = export_csv(admin_client_, "admin:rewards_reward_export", "?kind__exact=product")
    assert mug["name"] == "'=Kubek"  # a spreadsheet will not run it


def test_an_exported_catalog_imports_back_unchanged(admin_client_, staff_user, partner, tiers):
    now = timezone.now().replace(microsecond=0)
    make_reward(partner=partner, min_tier=tiers[2], cash_value=Decimal("58.00"), stock=3, per_member_limit=1)
    make_reward("okres", name="Okres", available_from=now, available_until=now + timedelta(days=30), is_active=False)

    for kind, url_name in (("partners", "admin:rewards_partner_export"), ("rewards", "admin:rewards_reward_export")):
        rows = export_csv(admin_client_, url_name)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), delimiter=";")
        writer.writeheader()
        writer.writerows(rows)
        job = run_import(kind, buffer.getvalue().encode(), staff_user)
        assert job.counts == {"skip": len(rows)}, errors_of(job)


def test_reward_numbers_and_dates_the_database_cannot_hold_are_row_errors(staff_user):
    content = (
        "code;name;kind;points_cost;cash_value;stock;available_until\n"
        "big;Duża;voucher;99999999999;1;;\n"
        "cash;Drogie;voucher;10;123456789012,00;;\n"
        "old;Stara;voucher;10;;;0001-01-01\n"
        "late;Późna;voucher;10;;-1;31.12.9999 23:59\n"
        "ok;Dobra;voucher;10;5,00;3;31.12.2030\n"
    ).encode()
    previewed = run_import("rewards", content, staff_user, only_valid_rows=True)

    errors = list(ImportRowError.objects.filter(job=previewed).values_list("line", "column"))
    assert errors == [
        (2, "points_cost"),
        (3, "cash_value"),
        (4, "available_until"),
        (5, "stock"),
        (5, "available_until"),
    ]
    assert previewed.counts == {"new": 1, "invalid": 4}
    assert import_apply(job=previewed).status == "done"
    assert list(Reward.objects.values_list("code", flat=True)) == ["ok"]


def test_a_partner_email_longer_than_the_column_is_a_row_error(staff_user):
    email = "a" * 64 + "@" + ".".join(["b" * 60] * 4) + ".pl"
    content = f"code;name;email\nlong;Kino;{email}\n".encode()
    previewed = run_import("partners", content, staff_user, only_valid_rows=True)

    error = ImportRowError.objects.get(job=previewed)
    assert (error.line, error.column) == (2, "email")
    assert import_apply(job=previewed).status == "done"
    assert not Partner.objects.exists()
