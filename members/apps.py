from django.apps import AppConfig


class MembersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "members"
    verbose_name = "Członkowie"

    def ready(self) -> None:
        from . import resources  # noqa: F401  registers the members import
