"""Fixtures of the portal's tests: the portal's Polish translations, compiled from their fragment.

The portal's message ids are English; their Polish lives in locale/fragments/portal.po until the integrator merges
it into locale/pl/LC_MESSAGES/django.po. `polish_portal` compiles the fragment once and puts it first on
LOCALE_PATHS, so pages read in Polish before and after that merge alike."""

import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings as django_settings

FRAGMENT = Path(__file__).resolve().parents[2] / "locale" / "fragments" / "portal.po"


def compile_fragment(folder: Path) -> Path:
    target = folder / "pl" / "LC_MESSAGES"
    target.mkdir(parents=True, exist_ok=True)
    msgfmt = shutil.which("msgfmt") or "/usr/bin/msgfmt"
    subprocess.run([msgfmt, "-o", str(target / "django.mo"), str(FRAGMENT)], check=True)
    return folder


@pytest.fixture(scope="session")
def portal_catalog(tmp_path_factory) -> Path:
    return compile_fragment(tmp_path_factory.mktemp("portal-locale"))


@pytest.fixture
def polish_portal(settings, portal_catalog):
    """The portal's fragment ahead of the project's catalogue (changing LOCALE_PATHS resets Django's caches)."""
    settings.LOCALE_PATHS = [portal_catalog, *django_settings.LOCALE_PATHS]
    return settings
