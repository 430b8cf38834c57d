"""axes's database handler with a limit per account and a separate, higher one per client address."""

from axes.attempts import get_cool_off_threshold
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.db.models import QuerySet, Sum


def _failures(attempts: QuerySet) -> int:
    return attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0


class LoginThrottleHandler(AxesDatabaseHandler):
    """Counts recent failures of the account (AXES_FAILURE_LIMIT) and of the address (LOGIN_ADDRESS_FAILURE_LIMIT).

    axes compares one count with one limit; many members share an address (a shop's network, a mobile carrier's
    NAT), so the address gets a limit of its own: `get_failures` reports the account's count, or at least the
    account limit once the address has reached its limit.
    """

    def get_failures(self, request, credentials=None) -> int:
        recent = AccessAttempt.objects.filter(attempt_time__gte=get_cool_off_threshold(request))
        by_account = _failures(recent.filter(username=get_client_username(request, credentials)))
        address_limit = settings.LOGIN_ADDRESS_FAILURE_LIMIT
        if address_limit and _failures(recent.filter(ip_address=request.axes_ip_address)) >= address_limit:
            return max(by_account, get_failure_limit(request, credentials))
        return by_account

    def reset_user_attempts(self, request, credentials=None) -> int:
        """After a successful login, forget the account's failures only.

        axes would also forget every failure from the address, so anyone holding one valid account could reset
        the per-address count between guesses at other accounts.
        """
        username = get_client_username(request, credentials)
        count, _ = AccessAttempt.objects.filter(username=username).delete()
        return count
