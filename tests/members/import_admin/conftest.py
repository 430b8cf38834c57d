"""Fixtures of the import admin tests."""

import pytest

from members.models import ConsentText


@pytest.fixture(autouse=True)
def _media_and_language(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # The texts asserted are the English sources; whether a Polish catalogue translates them is not tested here.
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def consent_text(db):
    return ConsentText.objects.create(channel="email", purpose="marketing", version="1.0", text="Zgoda na e-maile")
