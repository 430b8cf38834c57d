"""The demo app: only its management command, `demo_seed`; no models, no migrations, no receivers."""

from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "loyalty_site.demo"
    label = "demo"
    verbose_name = "Demo data"
