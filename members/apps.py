from django.apps import AppConfig


class MembersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "members"
    verbose_name = "Członkowie"

    def ready(self) -> None:
        from . import (
            portal,  # noqa: F401  registers the home page's navigation entry
            resources,  # noqa: F401  registers the members import
        )
