"""The engagement sub-app of rewards: challenges, badges, leaderboards, referrals and birthday bonuses."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EngagementConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "rewards.engagement"
    label = "engagement"
    verbose_name = _("Challenges, badges and referrals")

    def ready(self) -> None:
        from . import (
            demo,  # noqa: F401  registers the demo step
            gdpr,  # noqa: F401  data export sections and erasure
            imports,  # noqa: F401  registers the challenges and badges imports
            receivers,  # noqa: F401  subscribes to purchases, refunds, enrolments and tier changes
        )
