"""The admin login the browser tests share: one superuser, logged in through the real login form."""

from django.contrib.auth import get_user_model

PASSWORD = "secret-pass-1"


def create_superuser():
    return get_user_model().objects.create_superuser(username="kierownik", password=PASSWORD, email="k@example.pl")


def log_in(page, next_url: str) -> None:
    page.goto(f"/admin/login/?next={next_url}")
    page.locator("#id_username").fill("kierownik")
    page.locator("#id_password").fill(PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url(f"**{next_url}")
