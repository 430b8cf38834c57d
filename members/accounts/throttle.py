"""Login throttling (django-axes, loyalty_site/login_throttle) for the portal's other ways in: claim codes.

A wrong card/contact pair or a wrong code is a failed login of the name `claim:<card or member number>`, so the
same limits and lock-out periods apply as to passwords, per membership and per client address."""

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.signals import user_login_failed
from django.http import HttpRequest


def claim_credentials(number: str) -> dict:
    return {"username": f"claim:{number.strip()}"}


def claim_locked(request: HttpRequest, number: str) -> bool:
    AxesProxyHandler.update_request(request)
    return AxesProxyHandler.is_locked(request, claim_credentials(number))


def claim_failed(request: HttpRequest, number: str) -> None:
    AxesProxyHandler.update_request(request)
    user_login_failed.send(sender=__name__, credentials=claim_credentials(number), request=request)
