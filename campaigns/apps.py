from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from . import audiences, demo, gdpr, journeys, receivers, tasks  # noqa: F401 - registries, receivers, demo, tasks
