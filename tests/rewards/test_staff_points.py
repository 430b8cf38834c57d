"""Points where staff look: ledger reasons in the reader's language (also for entries posted before reasons were
codes), a purchase's points, rules and refunds, a member's expiries and tier history, and an import's points."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from loyalty_site.files.importing import import_apply, import_job_create, import_preview
from rewards.batch import PurchaseRow, purchases_post_batch
from rewards.models import LedgerEntry, PointsAccount, PointsLot
from rewards.selectors import ledger_mismatches
from rewards.services import points_earn, purchase_post, refund_post
from tests.factories import PurchaseFactory


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def in_english(client):
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    return client


def legacy_entry(member, sentence: str, key: str) -> LedgerEntry:
    """An entry as an older version wrote it: an English sentence and no code (its points are beside the point
    here: the ledger check is not asked)."""
    return LedgerEntry.objects.create(member=member, kind="bonus", points=5, reason=sentence, idempotency_key=key)


# --- Reasons ------------------------------------------------------------------------------------------------


def test_reasons_old_and_new_read_in_the_admins_language(admin_client_, member, program):
    PurchaseFactory(member=member, external_id="P-1", amount=Decimal("120.00"))
    old = legacy_entry(member, "Purchase OLD-1 (82.99 PLN)", "legacy-1")
    new = LedgerEntry.objects.get(member=member, kind="earn")
    assert (new.reason, new.reason_code, new.reason_params) == ("", "purchase", {"number": "P-1", "amount": "120.00"})

    pages = [
        reverse("admin:rewards_ledgerentry_changelist"),
        reverse("admin:members_member_change", args=[member.pk]),
        reverse("admin:rewards_ledgerentry_change", args=[old.pk]),
        reverse("admin:rewards_ledgerentry_change", args=[new.pk]),
    ]
    polish = [admin_client_.get(page).content.decode() for page in pages]
    assert "Zakup OLD-1 (82,99 zł)" in polish[0] and "Zakup P-1 (120,00 zł)" in polish[0]
    assert "Zakup OLD-1 (82,99 zł)" in polish[1] and "Zakup P-1 (120,00 zł)" in polish[1]
    assert "Zakup OLD-1 (82,99 zł)" in polish[2] and "Zakup P-1 (120,00 zł)" in polish[3]
    assert not any("PLN)" in html for html in polish)

    english = [in_english(admin_client_).get(page).content.decode() for page in pages]
    assert "Purchase OLD-1 (82.99 zł)" in english[0] and "Purchase P-1 (120.00 zł)" in english[0]
    assert "Purchase OLD-1 (82.99 zł)" in english[1] and "Purchase P-1 (120.00 zł)" in english[1]


def test_a_staff_note_is_shown_as_typed(admin_client_, member, program, staff_user):
    from rewards.services import points_adjust

    entry = points_adjust(member=member, points=10, reason="Reklamacja 12/2026", actor=staff_user)

    assert (entry.reason, entry.reason_code, entry.reason_params) == ("Reklamacja 12/2026", "note", {})
    html = admin_client_.get(reverse("admin:rewards_ledgerentry_changelist")).content.decode()
    assert "Reklamacja 12/2026" in html


def test_the_batch_and_a_single_purchase_store_the_same_reason(make_member, program, tiers):
    one, other = make_member(), make_member()
    at = timezone.now() - timedelta(days=1)
    PurchaseFactory(member=one, external_id="S-1", amount=Decimal("1200.50"), purchased_at=at)
    purchases_post_batch(
        [PurchaseRow(member_id=other.pk, source="pos", external_id="S-1b", amount=Decimal("1200.50"), purchased_at=at)]
    )

    def stored(member):
        entry = LedgerEntry.objects.get(member=member, kind="earn")
        change = member.tier_changes.order_by("id").values_list("reason", "reason_code", "reason_params")
        return entry.reason, entry.reason_code, {**entry.reason_params, "number": "-"}, list(change)

    assert stored(one) == stored(other)
    assert stored(one)[1:3] == ("purchase", {"number": "-", "amount": "1200.50"})
    assert stored(one)[3] and stored(one)[3][-1][:2] in (("", "tier_upgrade"), ("", "tier_qualified"))
    assert ledger_mismatches() == []


# --- A purchase's page --------------------------------------------------------------------------------------


def test_a_purchases_page_shows_its_points_rules_and_refunds(admin_client_, member, program):
    posted = purchase_post(member=member, source="pos", external_id="P-7", amount=Decimal("200.00"))
    _refund, reversal = refund_post(purchase=posted.purchase, external_id="R-7", amount=Decimal("50.00"))

    html = admin_client_.get(reverse("admin:members_purchase_change", args=[posted.purchase.pk])).content.decode()

    assert 'id="purchase-panel-points"' in html
    assert 'data-testid="purchase-rules"' in html and 'data-testid="purchase-refunds"' in html
    for entry in (posted.entry, reversal):
        assert reverse("admin:rewards_ledgerentry_change", args=[entry.pk]) in html
    assert "Zwrot R-7 do zakupu P-7 (50,00 zł)" in html
    assert reversal.points == -50


def test_the_points_panel_needs_the_ledger_permission(role_client, member, program):
    from django.contrib.auth.models import Permission

    posted = purchase_post(member=member, source="pos", external_id="P-8", amount=Decimal("20.00"))
    client = role_client(None)
    client.user.user_permissions.add(Permission.objects.get(codename="view_purchase"))

    html = client.get(reverse("admin:members_purchase_change", args=[posted.purchase.pk])).content.decode()

    assert "purchase-panel-points" not in html


# --- A member's page ----------------------------------------------------------------------------------------


def test_a_members_page_shows_expiries_by_date_and_the_tier_history(admin_client_, member, program, tiers):
    now = timezone.now()
    points_earn(member=member, points=40, reason="a", idempotency_key="a", at=now - timedelta(days=300))
    points_earn(member=member, points=60, reason="b", idempotency_key="b", at=now - timedelta(days=10))
    PurchaseFactory(member=member, external_id="P-9", amount=Decimal("1500.00"))

    html = admin_client_.get(reverse("admin:members_member_change", args=[member.pk])).content.decode()

    soonest = PointsLot.objects.filter(member=member).order_by("expires_at").first().expires_at
    assert 'data-testid="member-expiring"' in html
    assert timezone.localdate(soonest).strftime("%d.%m.%Y") in html
    assert 'data-testid="member-tiers"' in html and "Srebrny" in html


# --- Imports ------------------------------------------------------------------------------------------------


def purchases_file(members, n: int) -> bytes:
    day = (timezone.localdate() - timedelta(days=30)).strftime("%d.%m.%Y")
    lines = ["purchase_id;member_number;purchased_at;amount"]
    lines += [f"IMP-{i};{members[i % len(members)].member_number};{day} 12:00;{100 + i},50" for i in range(n)]
    return ("\n".join(lines) + "\n").encode()


def upload(content: bytes, user):
    return import_job_create(
        kind="purchases",
        file=SimpleUploadedFile("p.csv", content),
        name="p.csv",
        user=user,
        options={"source": "pos"},
    )


def test_an_imports_preview_and_result_show_the_points(admin_client_, make_member, program, tiers, staff_user):
    members = [make_member() for _ in range(3)]
    content = purchases_file(members, 12)

    previewed = import_preview(job=upload(content, staff_user))
    expected = previewed.options["figures"]
    page = admin_client_.get(reverse("admin:files_importjob_change", args=[previewed.pk])).content.decode()
    assert 'data-testid="import-figures"' in page and 'data-testid="confirm-import"' in page

    done = import_apply(job=previewed)
    posted = sum(LedgerEntry.objects.filter(reference=f"import:{done.pk}").values_list("points", flat=True))
    assert expected["points"] == posted == done.options["applied_figures"]["points"]
    assert expected["purchases"] == 12 and expected["rule:base"] == posted
    page = admin_client_.get(reverse("admin:files_importjob_change", args=[done.pk])).content.decode()
    assert "?q=import%3A" in page and str(done.pk) in page

    again = import_preview(job=upload(content, staff_user))
    page = admin_client_.get(reverse("admin:files_importjob_change", args=[again.pk])).content.decode()
    assert 'data-testid="nothing-new"' in page and 'data-testid="confirm-import"' not in page
    assert sum(PointsAccount.objects.values_list("balance", flat=True)) == posted


def test_tier_changes_read_in_the_admins_language(admin_client_, member, program, tiers):
    from rewards.models import TierChange

    PurchaseFactory(member=member, external_id="P-T", amount=Decimal("1500.00"))
    old = TierChange.objects.create(member=member, to_tier=tiers[0], reason="downgrade after 30 days' grace")
    new = TierChange.objects.filter(member=member).exclude(pk=old.pk).order_by("id").last()
    assert new.reason == "" and new.reason_code in ("tier_qualified", "tier_upgrade")

    listing = admin_client_.get(reverse("admin:rewards_tierchange_changelist")).content.decode()
    page = admin_client_.get(reverse("admin:rewards_tierchange_change", args=[old.pk])).content.decode()

    assert "Obniżenie poziomu po 30 dniach karencji" in listing and "Obniżenie poziomu po 30 dniach karencji" in page
    assert "downgrade after" not in listing
