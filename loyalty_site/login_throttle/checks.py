"""A system check for the one proxy setting that locks everybody out together when it is wrong."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def proxy_count_check(app_configs, **kwargs):
    # SECURE_PROXY_SSL_HEADER says a proxy sits in front; if no proxy is trusted for the client address, every
    # login seems to come from the proxy and the per-address limit locks all clients out at once.
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None) and settings.LOGIN_TRUSTED_PROXY_COUNT <= 0:
        return [
            Warning(
                "Behind a reverse proxy (SECURE_PROXY_SSL_HEADER) but LOGIN_TRUSTED_PROXY_COUNT is 0: every login "
                "counts against the proxy's address.",
                hint="Set LOGIN_TRUSTED_PROXY_COUNT to the number of proxies that append to X-Forwarded-For.",
                id="login_throttle.W001",
            )
        ]
    return []
