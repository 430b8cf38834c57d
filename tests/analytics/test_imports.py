"""Purchases imported through the admin's file import give the same per-member frequency, recency, age and
monetary value as computing them from the file directly."""

import io
import random
from datetime import date, datetime, timedelta

import pandas as pd
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from analytics.frames import day_number, purchase_days
from analytics.rfm import member_summary
from loyalty_site.files.importing import import_apply, import_job_create, import_preview
from members.models import Member

HEADER = "purchase_id;member_number;purchased_at;amount;store;sku;category;line_amount"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def purchases_file(members, as_of: date) -> bytes:
    rng = random.Random(14)
    lines = [HEADER]
    n = 0
    for member in members:
        for _ in range(rng.randint(1, 6)):
            day = as_of - timedelta(days=rng.randint(0, 300))
            hour = rng.choice([0, 9, 12, 23])  # around midnight too: days are local days
            amount = f"{rng.randint(1, 500)},{rng.randint(0, 99):02d}"
            lines.append(f"IMP-{n:05d};{member.member_number};{day:%d.%m.%Y} {hour:02d}:30;{amount};S1;;;")
            n += 1
    return ("\n".join(lines) + "\n").encode()


def summary_from_file(content: bytes, as_of: date) -> pd.DataFrame:
    """The file read with pandas alone: local day per purchase, amount in grosze, grouped like the models do."""
    rows = pd.read_csv(io.BytesIO(content), sep=";", dtype=str)
    numbers = dict(Member.objects.values_list("member_number", "id"))
    frame = pd.DataFrame(
        {
            "member_id": rows["member_number"].map(numbers).astype("int64"),
            "day": [day_number(datetime.strptime(v, "%d.%m.%Y %H:%M").date()) for v in rows["purchased_at"]],
            "store": rows["store"],
            "orders": 1,
            "net_cents": [int(v.replace(",", "")) for v in rows["amount"]],
        }
    )
    return member_summary(frame, day_number(as_of))


@pytest.mark.django_db
def test_imported_purchases_give_the_file_s_frequency_recency_age_and_monetary(make_member, program, staff_user):
    members = [make_member() for _ in range(12)]
    as_of = timezone.localdate() - timedelta(days=1)
    content = purchases_file(members, as_of)
    job = import_job_create(
        kind="purchases",
        file=SimpleUploadedFile("purchases.csv", content),
        name="purchases.csv",
        user=staff_user,
        options={"source": "pos"},
    )
    applied = import_apply(job=import_preview(job=job))
    assert applied.counts.get("new") == len(content.splitlines()) - 1
    from_database = member_summary(purchase_days(until=as_of), day_number(as_of))
    from_file = summary_from_file(content, as_of)
    columns = ["frequency", "recency_weeks", "age_weeks", "repeat_mean_pln", "orders", "net_cents"]
    pd.testing.assert_frame_equal(
        from_database[columns].sort_index(), from_file[columns].sort_index(), check_dtype=False
    )
