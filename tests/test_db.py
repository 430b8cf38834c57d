"""loyalty_site.db: the small database helpers the ORM does not offer."""

from decimal import Decimal

import pytest
from django.db import connection

from loyalty_site.db import any_of, array_literal, insert, insert_unless_exists, int_array
from members.models import Member


@pytest.fixture
def three(make_member):
    return [make_member() for _ in range(3)]


def _found(values) -> list[str]:
    return sorted(
        number
        for queryset in any_of(Member.objects.all(), "member_number", values)
        for number in queryset.values_list("member_number", flat=True)
    )


def test_any_of_finds_what_an_in_list_finds_with_one_parameter(three):
    wanted = [three[0].member_number, three[2].member_number, "no-such-number"]
    assert _found(wanted) == sorted(wanted[:2])
    assert _found([]) == []
    querysets = list(any_of(Member.objects.all(), "member_number", wanted))
    assert len(querysets) == 1
    sql, params = querysets[0].query.sql_with_params()
    if connection.vendor == "postgresql":
        # One array, whatever the number of values: its text, cast in the statement (array_literal).
        assert "= ANY(%s::text[])" in sql and list(params) == [array_literal(wanted)[0]]


def test_insert_unless_exists_says_whether_it_inserted(db):
    from members.models import ConsentPurpose, ConsentText

    purpose = ConsentPurpose.MARKETING
    key = ("channel", "purpose", "version")
    first = ConsentText(channel="email", purpose=purpose, version="t-99", text="Zgoda")
    assert insert_unless_exists(first, conflict_fields=key) is True
    assert first.pk is not None
    again = ConsentText(channel="email", purpose=purpose, version="t-99", text="Inna")
    assert insert_unless_exists(again, conflict_fields=key) is False
    assert again.pk is None
    insert(ConsentText(channel="sms", purpose=purpose, version="t-99", text="Zgoda"))
    assert ConsentText.objects.filter(version="t-99").count() == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="binary results: PostgreSQL")
@pytest.mark.django_db
def test_fetch_binary_reads_what_the_orm_reads_counts_its_query_and_raises_django_s_errors(three):
    from django.db import ProgrammingError, transaction
    from django.test.utils import CaptureQueriesContext

    from loyalty_site.db import fetch_binary

    found = (
        Member.objects.filter(pk__in=[m.pk for m in three])
        .order_by("pk")
        .values_list("pk", "member_number", "joined_at")
    )
    with CaptureQueriesContext(connection) as queries:
        rows = fetch_binary(*found.query.sql_with_params())
    assert rows == list(found)  # the same values, timestamps equal (in UTC) as the ORM's
    assert len(queries) == 1 and "members_member" in queries[0]["sql"]
    with pytest.raises(ProgrammingError), transaction.atomic():
        fetch_binary("SELECT no_such_column FROM members_member WHERE id = %s", [1])


@pytest.mark.django_db
def test_rows_of_reads_a_values_list_as_the_orm_does_and_sends_nothing_that_cannot_match(three):
    from django.test.utils import CaptureQueriesContext

    from loyalty_site.db import rows_of

    found = Member.objects.filter(pk__in=[m.pk for m in three]).order_by("pk").values_list("pk", "joined_at")
    assert list(rows_of(found)) == list(found)
    with CaptureQueriesContext(connection) as queries:
        assert list(rows_of(Member.objects.filter(pk__in=[]).values_list("pk"))) == []
    assert len(queries) == 0


AWKWARD = ["plain", 'with "quotes"', "back\\slash", "a,comma", "{braces}", " spaced ", "NULL", "", "zażółć", 'x\\"y']


@pytest.mark.parametrize(
    "values", [[1, 2, 3], [2**62, -5, 0], AWKWARD, ["only"]], ids=["ints", "big-and-negative", "awkward", "one"]
)
def test_array_literal_reads_back_as_the_values_in_postgresql(db, values):
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's array syntax")
    text, array_type = array_literal(values)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s::{array_type}", [text])
        assert cursor.fetchone()[0] == values


def test_array_literal_leaves_other_values_to_psycopg():
    assert array_literal([]) is None
    assert array_literal([Decimal("1.5")]) is None
    assert int_array([]) == "{}"
    with pytest.raises(TypeError):
        array_literal(["a", 1])


def test_any_of_matches_awkward_strings_exactly(make_member):
    members = [make_member(email=f"m{n}@example.com") for n in range(len(AWKWARD))]
    for member, city in zip(members, AWKWARD, strict=True):
        Member.objects.filter(pk=member.pk).update(city=city)
    wanted = [AWKWARD[1], AWKWARD[2], AWKWARD[6], AWKWARD[7], AWKWARD[9], "not there"]
    found = sorted(c for qs in any_of(Member.objects.all(), "city", wanted) for c in qs.values_list("city", flat=True))
    assert found == sorted(wanted[:-1])
    ids = sorted(
        pk
        for qs in any_of(Member.objects.all(), "pk", [m.pk for m in members[:3]])
        for pk in qs.values_list("pk", flat=True)
    )
    assert ids == [m.pk for m in members[:3]]
