"""The login-throttling app: its system check is registered when Django starts."""

from axes.apps import AppConfig as AxesAppConfig
from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LoginThrottleConfig(AppConfig):
    name = "loyalty_site.login_throttle"
    label = "login_throttle"
    verbose_name = _("Login throttling")

    def ready(self):
        from . import checks  # noqa: F401  registers the proxy configuration check


class AxesConfig(AxesAppConfig):
    """django-axes under a name staff read in their language (its own is the untranslated "Axes")."""

    verbose_name = _("Login lockouts")
