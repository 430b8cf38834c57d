"""A migration operation for changes PostgreSQL can make in place where Django would rebuild."""

from django.db.migrations.operations.base import Operation


class InPlaceOnPostgresql(Operation):
    """The project state changes as `operations` say. On PostgreSQL the database is changed by `sql` instead:
    renaming a unique constraint, an index, or dropping one, takes a moment, where Django would build a new
    index over the whole table (and hold off every write to it meanwhile: the ledger, on a live programme).
    Elsewhere (SQLite, the demo) the `operations` run as they are."""

    reduces_to_sql = False

    def __init__(self, *, sql: list[str], reverse_sql: list[str], operations: list[Operation]):
        self.sql = sql
        self.reverse_sql = reverse_sql
        self.operations = operations

    def deconstruct(self):
        kwargs = {"sql": self.sql, "reverse_sql": self.reverse_sql, "operations": self.operations}
        return (self.__class__.__qualname__, [], kwargs)

    def state_forwards(self, app_label, state):
        for operation in self.operations:
            operation.state_forwards(app_label, state)

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            for statement in self.sql:
                schema_editor.execute(statement, params=None)
            return
        # As SeparateDatabaseAndState runs its database operations: each from the state the one before left.
        for operation in self.operations:
            to_state = from_state.clone()
            operation.state_forwards(app_label, to_state)
            operation.database_forwards(app_label, schema_editor, from_state, to_state)
            from_state = to_state

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            for statement in self.reverse_sql:
                schema_editor.execute(statement, params=None)
            return
        states = [to_state]
        for operation in self.operations[:-1]:
            state = states[-1].clone()
            operation.state_forwards(app_label, state)
            states.append(state)
        for operation, before in zip(reversed(self.operations), reversed(states), strict=True):
            after = before.clone()
            operation.state_forwards(app_label, after)
            operation.database_backwards(app_label, schema_editor, after, before)

    def describe(self) -> str:
        return "Indexes and constraints renamed or dropped in place on PostgreSQL"
