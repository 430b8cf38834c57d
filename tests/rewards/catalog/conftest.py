"""Fixtures of the reward catalog and partner tests."""

import pytest

from tests.factories import PartnerFactory


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def partner(db):
    return PartnerFactory(code="kino-helios", name="Kino Helios", email="partnerzy@helios.pl")
