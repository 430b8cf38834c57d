"""Browser fixtures: headless Debian Chromium driven by Playwright's sync API against pytest-django's live_server."""

import os
from pathlib import Path

import pytest
from django.test.utils import override_settings

ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium for one test module.

    Between its calls Playwright's sync API leaves its event loop marked as running in this thread (it
    switches greenlets), so Django would refuse the ORM calls the tests and fixtures make with
    SynchronousOnlyOperation. They never overlap with the loop's work, so they are safe: allow them, but
    only while the browser is up. Set for the whole run, the variable would leak into subprocesses (e.g.
    `manage.py check --deploy`, which flags it).
    """
    from playwright.sync_api import sync_playwright

    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"), args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()
    finally:
        playwright.stop()
        if previous is None:
            os.environ.pop(ASYNC_UNSAFE, None)
        else:
            os.environ[ASYNC_UNSAFE] = previous


PLAIN_HTTP = {
    "SESSION_COOKIE_SECURE": False,
    "CSRF_COOKIE_SECURE": False,
    "SECURE_SSL_REDIRECT": False,
    "SECURE_HSTS_SECONDS": 0,
}


@pytest.fixture(scope="session")
def live_server(request):
    """pytest-django's live server, built while SECURE_SSL_REDIRECT is off.

    SecurityMiddleware reads SECURE_SSL_REDIRECT once, when the server thread builds its handler; without
    DEBUG it would send the browser to https, which the live server does not speak. The override covers only
    the start, so the rest of the run still sees the real settings (the cookie flags are read per request
    and are switched off per test by `browser_settings`).
    """
    from pytest_django.live_server_helper import LiveServer

    addr = request.config.getvalue("liveserver") or os.getenv("DJANGO_LIVE_TEST_SERVER_ADDRESS") or "localhost"
    with override_settings(SECURE_SSL_REDIRECT=False):
        server = LiveServer(addr)
    yield server
    server.stop()


@pytest.fixture
def browser_settings(settings):
    """The live server speaks plain http: cookies must not be Secure and http must not redirect to https,
    whatever DEBUG was when the settings were imported."""
    for name, value in PLAIN_HTTP.items():
        setattr(settings, name, value)
    return settings


@pytest.fixture
def new_page(browser, live_server, browser_settings):
    """Open a page in a fresh browser context (own cookies) at a viewport size: `new_page(PHONE)`."""
    contexts = []

    def open_page(viewport=DESKTOP, **options):
        context = browser.new_context(
            viewport=viewport, base_url=live_server.url, locale="pl-PL", timezone_id="Europe/Warsaw", **options
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page(DESKTOP)


@pytest.fixture
def screenshot_dir(tmp_path) -> Path:
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
