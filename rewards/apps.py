from importlib import import_module

from django.apps import AppConfig


class RewardsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "rewards"
    verbose_name = "Punkty i nagrody"

    def ready(self) -> None:
        from . import (
            demo,  # noqa: F401  the demo's reward catalog and vouchers (loyalty_site.demo.steps)
            gdpr,  # noqa: F401  adds the ledger and the purchases' points to a member's data export
            partner_awards_demo,  # noqa: F401  the demo's co-branded partner promotion (after the catalog)
            portal,  # noqa: F401  registers the history link and the home page's points cards
            receivers,  # noqa: F401  subscribes to other apps' events (members joining)
            resources,  # noqa: F401  registers the purchases, refunds and adjustments imports
        )

        # Registers the partners and rewards imports; after the ones above, so the upload form keeps listing
        # the files staff import every day first.
        import_module(f"{self.name}.catalog_resources")
