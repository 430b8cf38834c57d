"""The analytics app: figures, segments and CLV that read every other app and register into their registries."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnalyticsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "analytics"
    verbose_name = _("Analytics")

    def ready(self) -> None:
        # Segment rules and the uplift function go to campaigns' registries when campaigns offers them.
        from analytics import campaign_rules, demo  # noqa: F401
