"""Numbers in the admin as Polish staff write them (loyalty_site.admin_format)."""

from decimal import Decimal

from django.utils import translation

from loyalty_site.admin_format import TIMES, money, multiplier, plain, rule_name, whole

NBSP = "\xa0"


def test_polish_numbers():
    with translation.override("pl"):
        assert whole(13636) == f"13{NBSP}636"
        assert whole(-1200) == f"-1{NBSP}200"
        assert money(Decimal("1234.5")) == f"1{NBSP}234,50"
        assert plain(Decimal("1.000")) == "1"
        assert plain(Decimal("0.250")) == "0,25"
        assert plain(Decimal("2500.00")) == f"2{NBSP}500"
        assert multiplier(Decimal("1.50")) == f"{TIMES}1,5"
        assert rule_name("Srebrny x1.25") == f"Srebrny {TIMES}1,25"
        assert rule_name("Weekend") == "Weekend"
        assert whole(None) == money(None) == "—"


def test_english_numbers():
    with translation.override("en"):
        assert multiplier(Decimal("1.50")) == f"{TIMES}1.5"
        assert plain(Decimal("1.000")) == "1"
