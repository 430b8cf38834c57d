"""Reading and locking: the purchases recorded already, the accounts locked in member order."""

from collections.abc import Iterable
from datetime import datetime

from loyalty_site.db import any_of, rows_of
from members.models import Purchase

from ..sql.accounts import accounts_lock

# --- Reading and locking -------------------------------------------------------------------------


def recorded_purchases(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, str, datetime]]:
    """The purchases recorded already among these (source, external id) keys, each with its member's id and
    number and when it was recorded. One array parameter for the ids, however many (`= ANY`)."""
    wanted = set(keys)
    sources = sorted({source for source, _external_id in wanted})
    external_ids = sorted({external_id for _source, external_id in wanted})
    recorded = {}
    for queryset in any_of(Purchase.objects.filter(source__in=sources), "external_id", external_ids):
        # A re-run finds thousands: read in the binary format, loaded in C.
        found = rows_of(
            queryset.values_list("source", "external_id", "member_id", "member__member_number", "created_at")
        )
        for source, external_id, member_id, number, created_at in found:
            if (source, external_id) in wanted:
                recorded[(source, external_id)] = (member_id, number, created_at)
    return recorded


# Kept under the name rewards.awards imports it by.
_lock_accounts = accounts_lock
