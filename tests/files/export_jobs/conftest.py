"""Fixtures of the export job tests."""

import pytest


@pytest.fixture(autouse=True)
def _media_language_threshold(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # The texts asserted are the English sources; whether a Polish catalogue translates them is not tested here.
    settings.LANGUAGE_CODE = "en"
    settings.EXPORT_BACKGROUND_ROWS = 10


@pytest.fixture
def krakow_and_lodz(make_member):
    """30 members: 15 in Kraków, 15 in Łódź."""
    for n in range(15):
        make_member(city="Kraków", last_name=f"Nowak{n}")
        make_member(city="Łódź", last_name=f"Wójcik{n}")
