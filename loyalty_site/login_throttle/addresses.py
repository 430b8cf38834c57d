"""The client's address behind a configured number of reverse proxies (AXES_CLIENT_IP_CALLABLE)."""

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or with LOGIN_TRUSTED_PROXY_COUNT = n the n-th X-Forwarded-For entry from the right.

    Each trusted proxy appends the address it received the request from, so the n-th entry from the right was
    written by the outermost trusted proxy and is the client; entries left of it are whatever the client sent and
    are never trusted. A header with fewer entries than proxies (a request that skipped one) gives its leftmost;
    anything that is not an address gives REMOTE_ADDR.
    """
    remote = request.META.get("REMOTE_ADDR") or None
    proxies = settings.LOGIN_TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if not forwarded:
        return remote
    candidate = forwarded[-proxies] if len(forwarded) >= proxies else forwarded[0]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote
