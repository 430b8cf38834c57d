"""The preview pauses Python's garbage collector while it reads chunks (docs/benchmarks.md) and gives it back
as it found it: on, off, and also when a handler fails part-way."""

import gc

import pytest

from loyalty_site.files.importing import HANDLERS, import_preview
from rewards.resources import PurchaseImport
from tests.factories import MemberFactory
from tests.rewards.test_imports import job, purchases_csv


class FailingAtTheSecondChunk(PurchaseImport):
    kind = "purchases-failing"

    def __init__(self):
        self.enabled_while_checking = []

    def prepare(self, rows, **kwargs):
        self.enabled_while_checking.append(gc.isenabled())
        if len(self.enabled_while_checking) == 2:
            raise RuntimeError("a handler's own bug")
        return super().prepare(rows, **kwargs)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def members(db):
    return MemberFactory.create_batch(3)


def test_the_collector_is_paused_during_the_preview_and_on_again_after_it(members, program, staff_user):
    assert gc.isenabled()
    previewed = import_preview(job=job("purchases", purchases_csv(members, 6), staff_user), chunk_size=2)

    assert previewed.counts == {"new": 6}
    assert gc.isenabled()


def test_a_collector_turned_off_by_someone_else_stays_off(members, program, staff_user):
    gc.disable()
    try:
        import_preview(job=job("purchases", purchases_csv(members, 4), staff_user), chunk_size=2)
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_a_handler_failing_part_way_gives_the_collector_back(members, program, staff_user, monkeypatch):
    handler = FailingAtTheSecondChunk()
    monkeypatch.setitem(HANDLERS, handler.kind, handler)

    with pytest.raises(RuntimeError):
        import_preview(job=job(handler.kind, purchases_csv(members, 6), staff_user), chunk_size=2)

    assert handler.enabled_while_checking == [False, False]
    assert gc.isenabled()
