"""The authentication backend that refuses logins to a locked-out account or address, before any password check."""

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied

# Set on a request whose login was refused because of an existing lockout (see responses.lockout_response).
REFUSED_WHILE_LOCKED = "login_refused_while_locked"


class LoginThrottleBackend(AxesStandaloneBackend):
    """axes's standalone backend; ModelBackend, listed after it, checks the password.

    `authenticate()` called without a request (the demo smoke test, a shell, a management command) is not a
    login over the web and has nothing to throttle: axes would raise, here it passes on to the next backend.
    Every web login (the portal's and the admin's LoginView) passes the request.
    """

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        try:
            return super().authenticate(request, username=username, password=password, **kwargs)
        except AxesBackendPermissionDenied:
            setattr(request, REFUSED_WHILE_LOCKED, True)
            raise
