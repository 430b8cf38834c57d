"""Time a 10,000-row members import (preview + apply) on PostgreSQL, new members then the same file updated.

    bash scripts/test.sh bench/bench_members_import.py -q -s -p no:cacheprovider

Run as a pytest module so that it gets the throwaway database test.sh starts; it prints its timings.
"""

import time

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile

from loyalty_site.files.importing import import_apply, import_job_create, import_preview
from members.models import ConsentText, Member

ROWS = 10_000
HEADER = "member_number;first_name;last_name;email;phone;city;birth_date;card_number;consent_email_marketing"


def members_csv(n: int, city: str, start: int = 0) -> bytes:
    lines = [HEADER]
    for i in range(start, start + n):
        lines.append(
            f"{2000000000 + i};Zofia;Wójcik{i};zofia{i}@example.pl;60{i:07d};{city};14.02.1988;CARD{i:06d};"
            + ("tak" if i % 2 else "nie")
        )
    return ("\n".join(lines) + "\n").encode()


def run(content: bytes, user, options: dict) -> float:
    job = import_job_create(
        kind="members", file=SimpleUploadedFile("m.csv", content), name="m.csv", user=user, options=options
    )
    started = time.perf_counter()
    job = import_apply(job=import_preview(job=job))
    elapsed = time.perf_counter() - started
    assert job.status == "done", job.error
    return elapsed


@pytest.mark.django_db(transaction=True)
def test_members_import_speed(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    user = get_user_model().objects.create_superuser(username="bench", password="x", email="b@example.pl")  # noqa: S106
    ConsentText.objects.create(channel="email", purpose="marketing", version="1.0", text="Zgoda")
    options = {"consent_version": "1.0"}
    new = run(members_csv(ROWS, "Łódź"), user, options)
    assert Member.objects.count() == ROWS
    updated = run(members_csv(ROWS, "Kraków"), user, options)
    again = run(members_csv(ROWS, "Kraków"), user, options)
    print(f"\nmembers import, {ROWS} rows: new {new:.2f} s, all updated {updated:.2f} s, unchanged {again:.2f} s")
    # New members who join now: the joining bonus for the chunk's set in one events_award (rewards.receivers).
    from rewards.models import EventRule

    EventRule.objects.create(event="joined", points=100, cap_count=1, cap_period="ever")
    welcome = run(members_csv(ROWS, "Łódź", start=ROWS), user, {**options, "award_joining_bonus": True})
    print(f"members import, {ROWS} new rows with the joining bonus: {welcome:.2f} s")
