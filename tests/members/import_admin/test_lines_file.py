"""Purchases with a second file of line items, through the admin."""

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from loyalty_site.files.models import ImportJob
from members.models import Purchase

from .support import UPLOAD, confirm_url, job_url, latest_job, members_csv, page_text, upload


def test_the_lines_file_input_is_offered_only_for_purchases(admin_client_, consent_text):
    purchases = page_text(admin_client_.get(reverse(UPLOAD), {"kind": "purchases"}, HTTP_HX_REQUEST="true"))
    assert 'id="import-lines-file" hx-swap-oob="true"' in purchases and 'name="lines_file"' in purchases
    assert 'id="import-lines-columns" hx-swap-oob="true"' in purchases and "?file=lines" in purchases
    members = page_text(admin_client_.get(reverse(UPLOAD), {"kind": "members"}, HTTP_HX_REQUEST="true"))
    assert 'id="import-lines-file" hx-swap-oob="true"' in members and 'name="lines_file"' not in members
    assert "?file=lines" not in members
    full = page_text(admin_client_.get(reverse(UPLOAD), {"kind": "purchases"}))
    assert 'name="lines_file"' in full

    template = admin_client_.get(reverse("admin:files_importjob_template", args=["purchases"]), {"file": "lines"})
    header = template.content.decode().lstrip("\ufeff").splitlines()[0]
    assert header == "purchase_id;source;sku;product_name;category;quantity;line_amount"
    assert 'filename="purchases-lines-template.csv"' in template["Content-Disposition"]
    missing = admin_client_.get(reverse("admin:files_importjob_template", args=["members"]), {"file": "lines"})
    assert missing.status_code == 404


def test_purchases_and_their_lines_file_are_uploaded_checked_and_imported(admin_client_, make_member, program):
    number = make_member().member_number
    purchases = f"purchase_id;member_number;purchased_at;amount\nPAR-1;{number};01.03.2026 14:30;249,90\n"
    lines = "purchase_id;sku;category;line_amount\nPAR-1;K-1;Kosmetyki;200,00\nPAR-1;K-2;Dom;49,90\n"
    upload(
        admin_client_,
        purchases.encode(),
        name="zakupy.csv",
        kind="purchases",
        source="kasa-1",
        lines_file=SimpleUploadedFile("pozycje.csv", lines.encode()),
    )
    job = latest_job()
    assert (job.status, job.counts, job.lines_original_name) == ("previewed", {"new": 1, "line": 2}, "pozycje.csv")
    page = page_text(admin_client_.get(job_url(job)))
    assert "zakupy.csv" in page and "pozycje.csv" in page
    admin_client_.post(confirm_url(job))
    purchase = Purchase.objects.get()
    assert (purchase.source, purchase.lines.count()) == ("kasa-1", 2)


def test_a_lines_file_is_checked_like_the_main_file(admin_client_):
    purchases = b"purchase_id;member_number;purchased_at;amount\nPAR-1;1;01.03.2026;1\n"
    response = upload(
        admin_client_,
        purchases,
        name="zakupy.csv",
        kind="purchases",
        lines_file=SimpleUploadedFile("pozycje.pdf", b"%PDF"),
    )
    assert response.status_code == 200 and "is not a .csv or .xlsx file" in page_text(response)
    assert not ImportJob.objects.exists()


def test_a_lines_file_sent_with_another_kind_is_ignored(admin_client_, consent_text):
    upload(admin_client_, members_csv(1), lines_file=SimpleUploadedFile("pozycje.csv", b"purchase_id\n1\n"))
    job = latest_job()
    assert job.kind == "members" and not job.lines_file
