"""Challenge progress written in sets: added to (the posting hooks) or set (a recalculation), rows created where
missing, in one statement per set on PostgreSQL (three arrays and a moment) and per ROWS_PER_STATEMENT rows
elsewhere; the new values come back, for the completions."""

from datetime import datetime
from decimal import Decimal

from django.db import connection

from ..models import ChallengeProgress

ROWS_PER_STATEMENT = 5000  # four parameters a row: within SQLite's and PostgreSQL's limits


def challenge_progress_write(
    values: dict[tuple[int, int], Decimal], *, at: datetime, add: bool
) -> list[tuple[int, int, Decimal]]:
    """Write progress per (challenge id, member id): `add` adds the values to what is stored (a zero is left
    out), otherwise they replace it. Returns (challenge id, member id, value now stored) of each row written."""
    table = connection.ops.quote_name(ChallengeProgress._meta.db_table)
    rows = sorted((c, m, v) for (c, m), v in values.items() if v or not add)
    new_value = f"{table}.value + EXCLUDED.value" if add else "EXCLUDED.value"
    written = []
    conflict = (
        f"ON CONFLICT (challenge_id, member_id) DO UPDATE SET value = {new_value}, "
        "updated_at = EXCLUDED.updated_at RETURNING challenge_id, member_id, value"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and rows:
            # Three arrays and a moment: four parameters however many rows, parsed once.
            cursor.execute(
                f"INSERT INTO {table} (challenge_id, member_id, value, updated_at) "  # noqa: S608 - the model's table
                f"SELECT c, m, v, %s FROM unnest(%s::bigint[], %s::bigint[], %s::numeric[]) AS t(c, m, v) {conflict}",
                [at, [c for c, _m, _v in rows], [m for _c, m, _v in rows], [Decimal(v) for _c, _m, v in rows]],
            )
            return [(c, m, Decimal(v)) for c, m, v in cursor.fetchall()]
        for first in range(0, len(rows), ROWS_PER_STATEMENT):
            part = rows[first : first + ROWS_PER_STATEMENT]
            cursor.execute(
                f"INSERT INTO {table} (challenge_id, member_id, value, updated_at) "  # noqa: S608 - the model's table
                f"VALUES {', '.join(['(%s, %s, %s, %s)'] * len(part))} {conflict}",
                [value for c, m, v in part for value in (c, m, Decimal(v), at)],
            )
            written.extend((c, m, Decimal(str(v))) for c, m, v in cursor.fetchall())
    return written
