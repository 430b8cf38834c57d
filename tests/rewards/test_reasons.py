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


@pytest.mark.parametrize(
    ("code", "params", "polish", "english"),
    [
        (reasons.REDEEMED, {"reward": "Kawa latte"}, "Nagroda: Kawa latte", "Reward: Kawa latte"),
        (reasons.RESTORED, {"reward": "Kawa"}, "Anulowana wymiana: Kawa", "Cancelled redemption: Kawa"),
        (reasons.PARTNER, {"partner": "Helios", "note": "x2"}, "Partner Helios: x2", "Partner Helios: x2"),
        (reasons.CHALLENGE, {"challenge": "Wydaj 500 zł"}, "Ukończone wyzwanie: Wydaj 500 zł", None),
        (reasons.REFERRAL, {}, "Premia za polecenie", "Referral bonus"),
        (reasons.BIRTHDAY, {}, "Premia urodzinowa", "Birthday bonus"),
    ],
)
def test_the_codes_of_redemptions_partners_and_engagement_read_in_each_language(code, params, polish, english):
    with translation.override("pl"):
        assert reasons.reason_text(code=code, params=params) == polish
    with translation.override("en"):
        assert reasons.reason_text(code=code, params=params) == (english or "Challenge completed: Wydaj 500 zł")


def test_a_reversal_limited_to_the_balance_says_so_also_when_stored_as_a_sentence():
    stored = "Refund R-1 of purchase P-1: 10.00 PLN (limited to the balance: 1200 points already spent)"
    with translation.override("en"):
        assert reasons.reason_text(text=stored) == (
            "Refund R-1 of purchase P-1 (10.00 zł) (limited to the balance: 1,200 points already spent)"
        )
    with translation.override("pl"):
        assert reasons.reason_text(code=reasons.NOTE, params={"short": 5}, text="Reklamacja") == (
            "Reklamacja (ograniczone do salda: 5 pkt zostało już wydanych)"
        )


def test_what_a_writer_stores():
    assert reasons.Reason(reasons.PURCHASE, {"number": "P-1"}).columns() == ("", "purchase", {"number": "P-1"})
    assert reasons.as_reason("Goodwill").columns() == ("Goodwill", "note", {})
    assert reasons.as_reason("Goodwill").with_params(short=3).columns() == ("Goodwill", "note", {"short": 3})
