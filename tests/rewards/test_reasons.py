"""Ledger reasons read in the reader's language, also the English sentences older entries stored."""

import pytest
from django.utils import translation

from rewards import reasons


@pytest.mark.parametrize(
    ("stored", "polish", "english"),
    [
        ("Purchase DEMO-00029717 (82.99 PLN)", "Zakup DEMO-00029717 (82,99 zł)", "Purchase DEMO-00029717 (82.99 zł)"),
        ("Return window passed", "Minął okres na zwrot", "Return window passed"),
        (
            "Refund R-DEMO-1 of purchase DEMO-7: 1234.50 PLN",
            "Zwrot R-DEMO-1 do zakupu DEMO-7 (1\xa0234,50 zł)",
            "Refund R-DEMO-1 of purchase DEMO-7 (1,234.50 zł)",
        ),
        (
            "Points earned 2025-11-21 expired",
            "Wygasły punkty zdobyte 21.11.2025",
            "Points earned on 11/21/2025 expired",
        ),
        ("Merged into 1234567890", "Połączono z członkiem 1234567890", "Merged into member 1234567890"),
        ("Przystąpienie do programu", "Przystąpienie do programu", "Joined the programme"),
        ("Joined the programme", "Przystąpienie do programu", "Joined the programme"),
        ("downgrade after 30 days' grace", "Obniżenie poziomu po 30 dniach karencji", "Downgrade after 30 days' grace"),
        ("Goodwill for a damaged parcel", "Goodwill for a damaged parcel", "Goodwill for a damaged parcel"),
    ],
)
def test_stored_sentences_read_in_each_language(stored, polish, english):
    with translation.override("pl"):
        assert reasons.reason_text(text=stored) == polish
    with translation.override("en"):
        assert reasons.reason_text(text=stored) == english


def test_a_code_with_parameters_reads_in_each_language():
    with translation.override("pl"):
        assert reasons.reason_text(code=reasons.EXPIRED, params={"earned": "2026-01-05"}) == (
            "Wygasły punkty zdobyte 05.01.2026"
        )
        assert reasons.reason_text(code=reasons.NOTE, params={"text": "Reklamacja"}) == "Reklamacja"
