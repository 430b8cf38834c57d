"""Reading and locking: the purchases recorded already, the accounts locked in member order."""

from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.utils import timezone

from loyalty_site.db import any_of
from members.models import Purchase

from ..models import PointsAccount
from .rows import ACCOUNT_FIELDS, _Account

# --- Reading and locking -------------------------------------------------------------------------


def recorded_purchases(keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], tuple[int, str, datetime]]:
    """The purchases recorded already among these (source, external id) keys, each with its member's id and
    number and when it was recorded. One array parameter for the ids, however many (`= ANY`)."""
    wanted = set(keys)
    sources = sorted({source for source, _external_id in wanted})
    external_ids = sorted({external_id for _source, external_id in wanted})
    recorded = {}
    for queryset in any_of(Purchase.objects.filter(source__in=sources), "external_id", external_ids):
        found = queryset.values_list("source", "external_id", "member_id", "member__member_number", "created_at")
        for source, external_id, member_id, number, created_at in found:
            if (source, external_id) in wanted:
                recorded[(source, external_id)] = (member_id, number, created_at)
    return recorded


def _lock_accounts(member_ids: list[int]) -> dict[int, _Account]:
    """Lock the members' accounts in member order, as account_lock does one at a time, creating those missing."""

    def lock(ids: list[int]) -> dict[int, _Account]:
        locked = PointsAccount.objects.select_for_update().order_by("member_id")
        return {
            values[1]: _Account(*values)
            for queryset in any_of(locked, "member_id", ids)
            for values in queryset.values_list(*ACCOUNT_FIELDS)
        }

    accounts = lock(member_ids)
    missing = [member_id for member_id in member_ids if member_id not in accounts]
    if missing:
        _create_accounts(missing)
        accounts.update(lock(missing))
    return accounts


def _create_accounts(member_ids: list[int]) -> None:
    """Empty accounts for members who have none; one created meanwhile by someone else is left alone."""
    if connection.vendor != "postgresql":
        PointsAccount.objects.bulk_create([PointsAccount(member_id=m) for m in member_ids], ignore_conflicts=True)
        return
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(PointsAccount._meta.db_table)} (member_id, balance, pending, updated_at) "
            "SELECT unnest(%s::bigint[]), 0, 0, %s ON CONFLICT (member_id) DO NOTHING",
            [member_ids, timezone.now()],
        )
