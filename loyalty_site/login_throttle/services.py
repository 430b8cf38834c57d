"""Staff unlock of a login: forget an account's recorded failures."""

import logging

from axes.utils import reset

logger = logging.getLogger(__name__)


def login_unlock(*, username: str, actor) -> int:
    """Clear the failed attempts recorded for `username`, so that it can log in again; returns how many were cleared.

    A lockout of the address the account was attacked from stays (unlock it in Access attempts by address).
    """
    cleared = reset(username=username)
    logger.info("Login unlocked for %r by %r: %d failed-attempt records cleared.", username, str(actor), cleared)
    return cleared
