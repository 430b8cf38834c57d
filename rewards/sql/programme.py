"""The programme configuration's version: the first query of every post (rewards.config)."""

from django.db import connection

from ..models import ProgramSettings


def config_version() -> int | None:
    """The settings row's `config_version` (None while no settings were saved)."""
    table = connection.ops.quote_name(ProgramSettings._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT config_version FROM {table} WHERE id = 1")  # noqa: S608 (a table name)
        row = cursor.fetchone()
    return row[0] if row else None
