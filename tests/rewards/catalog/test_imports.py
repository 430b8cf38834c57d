"""The rewards and partners imports: created, updated, skipped, and bad rows refused by line and column."""

from datetime import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from loyalty_site.files.importing import ImportRefused, import_apply, template_csv
from loyalty_site.files.models import ImportJob
from rewards.models import Partner, Reward
from tests.factories import VALID_NIP

from .support import PARTNERS, REWARDS, REWARDS_HEADER, errors_of, make_reward, run_import


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
