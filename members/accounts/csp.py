"""The Content-Security-Policy of every response (django-csp 4), with a fresh nonce in it on every page."""

from csp.constants import SELF, UNSAFE_INLINE
from csp.middleware import CSPMiddleware


class PortalCSPMiddleware(CSPMiddleware):
    """django-csp's middleware, with two differences.

    - The nonce is always in the header, not only when a template used it, so every page carries one.
    - Django's admin templates (and some of ours under admin/) set inline style attributes: its pages allow
      inline styles (not scripts). A nonce in style-src would make browsers ignore 'unsafe-inline', so
      there style-src is replaced without it.
    """

    def get_policy_parts(self, request, response, report_only=False):
        parts = super().get_policy_parts(request, response, report_only=report_only)
        if not report_only:
            parts.nonce = str(request.csp_nonce)
            if request.path_info.startswith("/admin/"):
                parts.replace = {**(parts.replace or {}), "style-src": [SELF, UNSAFE_INLINE]}
        return parts
