"""loyalty_site.migration_ops.InPlaceOnPostgresql, forwards and backwards, on a table of its own."""

import pytest
from django.db import IntegrityError, connection, models, transaction
from django.db.migrations.operations import AddConstraint, AlterField
from django.db.migrations.state import ModelState, ProjectState

from loyalty_site.migration_ops import InPlaceOnPostgresql

APP = "migops"
TABLE = "migops_thing"


def _state() -> ProjectState:
    state = ProjectState()
    state.add_model(
        ModelState(
            APP,
            "Thing",
            [("id", models.BigAutoField(primary_key=True)), ("key", models.CharField(max_length=20, unique=True))],
            options={"db_table": TABLE},
        )
    )
    return state


def _operation() -> InPlaceOnPostgresql:
    """The shape of rewards 0009: a unique=True constraint renamed to a named one, its LIKE index dropped."""
    return InPlaceOnPostgresql(
        sql=[
            f"ALTER TABLE {TABLE} RENAME CONSTRAINT {TABLE}_key_key TO thing_key_unique",
            f"DROP INDEX IF EXISTS {TABLE}_key_like",
        ],
        reverse_sql=[
            f"CREATE INDEX {TABLE}_key_like ON {TABLE} (key varchar_pattern_ops)",
            f"ALTER TABLE {TABLE} RENAME CONSTRAINT thing_key_unique TO {TABLE}_key_key",
        ],
        operations=[
            AddConstraint(
                model_name="thing", constraint=models.UniqueConstraint(fields=["key"], name="thing_key_unique")
            ),
            AlterField(model_name="thing", name="key", field=models.CharField(max_length=20)),
        ],
    )


def _names() -> set[str]:
    with connection.cursor() as cursor:
        return set(connection.introspection.get_constraints(cursor, TABLE))


@pytest.fixture
def table(db):
    if connection.vendor != "postgresql":
        pytest.skip("the operation's SQL is PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {TABLE} (id bigserial PRIMARY KEY, key varchar(20) UNIQUE)")
        cursor.execute(f"CREATE INDEX {TABLE}_key_like ON {TABLE} (key varchar_pattern_ops)")
        cursor.execute(f"INSERT INTO {TABLE} (key) VALUES ('a'), ('b')")
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE {TABLE}")


def test_forwards_changes_the_state_as_its_operations_and_the_database_by_its_sql(table):
    before = _state()
    after = before.clone()
    _operation().state_forwards(APP, after)
    thing = after.models[APP, "thing"]
    assert [c.name for c in thing.options["constraints"]] == ["thing_key_unique"]
    assert thing.fields["key"].unique is False

    with connection.schema_editor() as editor:
        _operation().database_forwards(APP, editor, before, after)

    names = _names()
    assert "thing_key_unique" in names
    assert f"{TABLE}_key_key" not in names and f"{TABLE}_key_like" not in names


def test_backwards_restores_the_constraint_and_index_names_with_the_rows(table):
    before = _state()
    after = before.clone()
    operation = _operation()
    operation.state_forwards(APP, after)
    with connection.schema_editor() as editor:
        operation.database_forwards(APP, editor, before, after)
    with connection.schema_editor() as editor:
        operation.database_backwards(APP, editor, after, before)

    names = _names()
    assert {f"{TABLE}_key_key", f"{TABLE}_key_like"} <= names
    assert "thing_key_unique" not in names
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key FROM {TABLE} ORDER BY key")
        assert cursor.fetchall() == [("a",), ("b",)]
        # The unique constraint still holds after the way back.
        with pytest.raises(IntegrityError), transaction.atomic():
            cursor.execute(f"INSERT INTO {TABLE} (key) VALUES ('a')")


def test_the_operation_deconstructs_to_what_it_was_made_with():
    operation = _operation()
    name, args, kwargs = operation.deconstruct()
    assert (name, args) == ("InPlaceOnPostgresql", [])
    assert kwargs["sql"] == operation.sql and kwargs["reverse_sql"] == operation.reverse_sql
    assert kwargs["operations"] == operation.operations
