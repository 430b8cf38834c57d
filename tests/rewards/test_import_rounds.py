"""The purchases import posting rounds of chunks in two processes (loyalty_site.files.importing.applying,
`_apply_rounds`): the same points as the one-process path, every row once after an interruption, and the
same answers to rows that changed since the preview. Transactional tests: the processes need committed data
and their own connections."""

from decimal import Decimal

import pytest
from django.db import connection

from loyalty_site.files import importing
from loyalty_site.files.importing import import_apply, import_preview
from loyalty_site.files.models import ImportRowError
from members.models import Member, Purchase
from rewards.models import LedgerEntry, PointsAccount
from rewards.selectors import ledger_mismatches
from rewards.services import purchase_post

from .test_imports import job, purchases_csv

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _rounds(settings, tmp_path, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("processes need PostgreSQL")
    settings.MEDIA_ROOT = tmp_path
    settings.IMPORT_WORKERS = 2
    monkeypatch.setattr(importing.applying, "ROUND_ROWS", 10)  # rounds of two chunks of 5


@pytest.fixture
def members(make_member):
    return [make_member() for _ in range(5)]


def test_rounds_post_what_one_process_posts(members, program, staff_user, settings):
    imported = import_apply(
        job=import_preview(job=job("purchases", purchases_csv(members, 23), staff_user)), chunk_size=5
    )
    balances = dict(PointsAccount.objects.values_list("member_id", "balance"))

    assert (imported.status, imported.processed_rows, imported.options["applied"]) == ("done", 23, {"new": 23})
    assert set(LedgerEntry.objects.values_list("reference", flat=True)) == {f"import:{imported.pk}"}
    assert ledger_mismatches() == []

    # The same file, another source, through the one-process path: the same points for everyone.
    settings.IMPORT_WORKERS = 1
    again = job("purchases", purchases_csv(members, 23), staff_user)
    again.options = {"source": "kasa"}
    again.save()
    import_apply(job=import_preview(job=again), chunk_size=5)
    assert dict(PointsAccount.objects.values_list("member_id", "balance")) == {
        member_id: 2 * balance for member_id, balance in balances.items()
    }


def test_an_import_stopped_in_a_round_posts_every_row_once_and_counts_them_as_new(
    members, program, staff_user, monkeypatch
):
    from rewards import resources

    # Line 14 earns no points: no ledger entry tells it was this import's, its purchase does.
    content = purchases_csv(members, 25, {14: ("amount", "0,00")})
    previewed = import_preview(job=job("purchases", content, staff_user), chunk_size=5)
    real = resources.PurchaseImport.apply_outside
    calls = []

    def stopped_after_posting_the_second_round(self, outcomes, **kwargs):
        calls.append(1)
        posted = real(self, outcomes, **kwargs)
        if len(calls) == 2:
            raise SystemExit("worker killed before the checkpoint")
        return posted

    monkeypatch.setattr(resources.PurchaseImport, "apply_outside", stopped_after_posting_the_second_round)
    with pytest.raises(SystemExit):
        import_apply(job=previewed, chunk_size=5)
    assert Purchase.objects.count() == 20  # two rounds posted, the checkpoint after the first
    previewed.refresh_from_db()
    assert previewed.processed_rows == 10

    monkeypatch.setattr(resources.PurchaseImport, "apply_outside", real)
    done = import_apply(job=previewed, chunk_size=5)

    assert done.options["applied"] == {"new": 25}
    assert Purchase.objects.count() == 25
    assert LedgerEntry.objects.filter(kind="earn").count() == 24
    assert ledger_mismatches() == []


def test_an_import_continued_after_a_member_was_suspended_keeps_what_it_had_posted(
    members, program, staff_user, monkeypatch
):
    from rewards import resources

    previewed = import_preview(job=job("purchases", purchases_csv(members, 25), staff_user), chunk_size=5)
    real = resources.PurchaseImport.apply_outside

    def stopped_after_posting_the_second_round(self, outcomes, **kwargs):
        posted = real(self, outcomes, **kwargs)
        if outcomes[0].line == 12:
            raise SystemExit("worker killed before the checkpoint")
        return posted

    monkeypatch.setattr(resources.PurchaseImport, "apply_outside", stopped_after_posting_the_second_round)
    with pytest.raises(SystemExit):
        import_apply(job=previewed, chunk_size=5)
    Member.objects.filter(pk=members[2].pk).update(status="suspended")  # rows at lines 4, 9, 14, 19 and 24
    monkeypatch.setattr(resources.PurchaseImport, "apply_outside", real)

    stopped = import_apply(job=previewed, chunk_size=5)

    # The second round is counted whole (lines 14 and 19 were posted before the suspension); the third
    # stops at line 24, before anything of it is posted.
    assert (stopped.status, stopped.processed_rows, stopped.options["applied"]) == ("failed", 20, {"new": 20})
    assert stopped.error_message.startswith("Wiersz 24, kolumna member_number:")
    assert "Wiersze przed wierszem 22 zostały zaimportowane" in stopped.error_message
    assert Purchase.objects.count() == 20


def test_a_purchase_a_till_recorded_after_the_preview_is_skipped(members, program, staff_user):
    previewed = import_preview(job=job("purchases", purchases_csv(members, 12), staff_user), chunk_size=5)
    purchase_post(member=members[1], source="pos", external_id="PAR-000001", amount=Decimal("101.50"))

    done = import_apply(job=previewed, chunk_size=5)

    assert done.options["applied"] == {"new": 11, "skip": 1}
    assert LedgerEntry.objects.filter(idempotency_key="purchase:pos:PAR-000001").count() == 1


def test_a_member_suspended_after_the_preview_stops_the_import_before_that_round(members, program, staff_user):
    previewed = import_preview(job=job("purchases", purchases_csv(members, 25), staff_user), chunk_size=5)
    # members[2] has rows 2, 7, 12, 17, 22: the first at line 4, in the first round.
    Member.objects.filter(pk=members[2].pk).update(status="suspended")

    failed = import_apply(job=previewed, chunk_size=5)

    assert failed.status == "failed"
    assert failed.error_message == (
        f"Wiersz 4, kolumna member_number: Członek {members[2].member_number} jest zawieszony "
        "(zmiana od czasu podglądu). Wiersze przed wierszem 2 zostały zaimportowane; pozostałe prześlij ponownie."
    )
    assert Purchase.objects.count() == 0  # nothing of the round


def test_with_only_valid_rows_a_suspended_members_rows_are_left_and_the_rest_posted(members, program, staff_user):
    upload = job("purchases", purchases_csv(members, 25), staff_user, only_valid_rows=True)
    previewed = import_preview(job=upload, chunk_size=5)
    Member.objects.filter(pk=members[2].pk).update(status="suspended")

    done = import_apply(job=previewed, chunk_size=5)

    assert (done.status, done.options["applied"]) == ("done", {"new": 20, "invalid": 5})
    assert not Purchase.objects.filter(member=members[2]).exists()
    assert ledger_mismatches() == []


def test_a_member_suspended_while_a_round_is_posted_is_named_and_the_rest_of_the_round_stays(
    members, program, staff_user, monkeypatch
):
    from rewards.resources import purchase_posting as resources  # the module that calls purchases_post_batch

    previewed = import_preview(job=job("purchases", purchases_csv(members, 25), staff_user), chunk_size=5)
    real = resources.purchases_post_batch

    def suspended_meanwhile(rows, **kwargs):
        Member.objects.filter(pk=members[2].pk).update(status="suspended")  # after the round's check
        return real(rows, **kwargs)

    monkeypatch.setattr(resources, "purchases_post_batch", suspended_meanwhile)
    failed = import_apply(job=previewed, chunk_size=5)

    assert failed.status == "failed"
    assert failed.error_message == (
        f"Wiersz 4, kolumna member_number: Członek {members[2].member_number} jest zawieszony (zmiana w trakcie "
        "importu); tak odrzucono 2 wiersze. Pozostałe wiersze do wiersza 11 zostały zaimportowane; wiersze 4, 9 "
        "i wiersze po wierszu 11 prześlij ponownie (są w raporcie błędnych wierszy)."
    )
    assert Purchase.objects.count() == 8  # the first round's ten rows but members[2]'s two
    assert (failed.processed_rows, failed.options["applied"]) == (10, {"new": 8, "invalid": 2})
    reported = ImportRowError.objects.filter(job=failed).values_list("line", "column")
    assert sorted(reported) == [(4, "member_number"), (9, "member_number")]
    assert ledger_mismatches() == []
