"""The words and numbers of the demo: Polish names, cities, stores, categories, the shopping calendar."""

import itertools
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FEMALE_FIRST_NAMES = _words(
    """Anna Maria Katarzyna Małgorzata Agnieszka Barbara Ewa Krystyna Elżbieta Magdalena Joanna Zofia Aleksandra
    Monika Teresa Danuta Natalia Julia Karolina Marta Beata Dorota Halina Jadwiga Jolanta Iwona Paulina Justyna
    Zuzanna Hanna Alicja Maja Weronika Wiktoria Oliwia Łucja Emilia Gabriela Patrycja Sylwia Grażyna Bożena Renata
    Urszula Żaneta"""
)


MALE_FIRST_NAMES = _words(
    """Piotr Krzysztof Andrzej Tomasz Paweł Jan Michał Marcin Jakub Adam Stanisław Marek Łukasz Grzegorz Mateusz
    Wojciech Mariusz Dariusz Zbigniew Jerzy Maciej Rafał Kamil Robert Kacper Szymon Antoni Filip Bartosz Dawid
    Przemysław Sebastian Józef Ryszard Tadeusz Wiktor Oskar Jacek Artur Hubert"""
)


# Masculine forms; adjectival ones (-ski, -cki, -dzki) take -ska, -cka, -dzka for women.
SURNAMES = _words(
    """Nowak Kowalski Wiśniewski Wójcik Kowalczyk Kamiński Lewandowski Zieliński Szymański Woźniak Dąbrowski
    Kozłowski Jankowski Mazur Wojciechowski Kwiatkowski Krawczyk Kaczmarek Piotrowski Grabowski Zając Pawłowski
    Michalski Król Wieczorek Jabłoński Wróbel Nowakowski Majewski Olszewski Stępień Malinowski Jaworski Adamczyk
    Dudek Nowicki Pawlak Górski Witkowski Walczak Sikora Baran Rutkowski Michalak Szewczyk Ostrowski Tomaszewski
    Pietrzak Zalewski Wróblewski Marciniak Jasiński Zawadzki Bąk Jakubowski Sadowski Duda Włodarczyk Wilk
    Chmielewski Borkowski Sokołowski Szczepański Sawicki Lis Kucharski Kalinowski Wysocki Mazurek Kubiak Czarnecki
    Sobczak Kołodziej Urbański Głowacki Kaźmierczak Żak Łuczak"""
)


# City, share of members, postal code prefixes (the first two digits), the city's store.
CITIES = (
    ("Warszawa", 18, ("00", "01", "02", "03", "04"), "store-01"),
    ("Kraków", 9, ("30", "31"), "store-02"),
    ("Łódź", 7, ("90", "91", "92", "93", "94"), "store-03"),
    ("Wrocław", 7, ("50", "51", "52", "53", "54"), "store-04"),
    ("Poznań", 6, ("60", "61"), "store-05"),
    ("Gdańsk", 5, ("80",), "store-06"),
    ("Szczecin", 4, ("70", "71"), "store-07"),
    ("Bydgoszcz", 3, ("85",), "store-08"),
    ("Lublin", 3, ("20",), "store-09"),
    ("Białystok", 3, ("15",), "store-10"),
    ("Katowice", 3, ("40",), "store-11"),
    ("Gdynia", 2, ("81",), "store-06"),
    ("Częstochowa", 2, ("42",), "store-11"),
    ("Radom", 2, ("26",), "store-01"),
    ("Toruń", 2, ("87",), "store-08"),
    ("Rzeszów", 2, ("35",), "store-12"),
    ("Kielce", 2, ("25",), "store-12"),
    ("Olsztyn", 2, ("10",), "store-06"),
    ("Opole", 1, ("45",), "store-04"),
    ("Zielona Góra", 1, ("65",), "store-05"),
    ("Sopot", 1, ("81",), "store-06"),
    ("Gliwice", 2, ("44",), "store-11"),
)


STORES = tuple(f"store-{n:02d}" for n in range(1, 13))


ONLINE = "online"


EMAIL_DOMAINS = (("gmail.com", 40), ("wp.pl", 15), ("onet.pl", 12), ("o2.pl", 10), ("interia.pl", 10), ("op.pl", 8))


MOBILE_PREFIXES = ("50", "51", "53", "57", "60", "66", "69", "72", "73", "78", "79", "88")


# How purchases spread over the hours of the day: online from midnight, stores open 9:00-21:00.
ONLINE_HOURS = (1, 1, 1, 1, 1, 1, 2, 4, 6, 6, 6, 6, 7, 7, 6, 6, 7, 8, 9, 10, 11, 10, 7, 3)


STORE_HOURS = (3, 5, 6, 7, 7, 7, 8, 9, 10, 10, 8, 5)


_ONLINE_HOURS_CUM = tuple(itertools.accumulate(ONLINE_HOURS))


_STORE_HOURS_CUM = tuple(itertools.accumulate(STORE_HOURS))


REFERRAL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"


# Category, SKU prefix, share of purchase lines, products ("|"-separated).
CATEGORIES = tuple(
    (name, code, share, tuple(products.split("|")))
    for name, code, share, products in (
        (
            "Kosmetyki",
            "KOS",
            22,
            "Krem do rąk|Mydło w płynie|Żel pod prysznic|Szampon do włosów|Balsam do ciała"
            "|Dezodorant|Odżywka do włosów",
        ),
        ("Perfumy", "PER", 10, "Woda perfumowana 50 ml|Woda toaletowa 100 ml|Mgiełka do ciała|Zestaw prezentowy"),
        (
            "Pielęgnacja",
            "PIE",
            18,
            "Serum z witaminą C|Krem na noc|Maseczka nawilżająca|Tonik do twarzy|Krem z filtrem SPF 50|Płyn micelarny",
        ),
        (
            "Makijaż",
            "MAK",
            14,
            "Tusz do rzęs|Podkład matujący|Pomadka|Puder prasowany|Kredka do oczu|Lakier do paznokci",
        ),
        ("Dom", "DOM", 10, "Świeca zapachowa|Płyn do naczyń|Dyfuzor zapachowy|Ręcznik bawełniany|Proszek do prania"),
        ("Alkohol", "ALK", 5, "Wino czerwone półwytrawne|Prosecco|Piwo rzemieślnicze 4-pak|Nalewka wiśniowa"),
        (
            "Przekąski",
            "PRZ",
            9,
            "Czekolada gorzka|Chipsy ziemniaczane|Orzechy nerkowca|Baton proteinowy|Ptasie mleczko",
        ),
        ("Zdrowie", "ZDR", 7, "Witamina D3|Plastry opatrunkowe|Tabletki do ssania|Magnez z B6"),
        ("Dziecko", "DZI", 5, "Chusteczki nawilżane|Pieluchy|Szampon dla dzieci|Krem na odparzenia"),
    )
)


_ASCII = str.maketrans("ąćęłńóśźżĄĆĘŁŃÓŚŹŻ", "acelnoszzACELNOSZZ")


CENT = Decimal("0.01")


def ascii_fold(text: str) -> str:
    """Polish letters to ASCII for email addresses: Łucja Żak -> Lucja Zak."""
    return text.translate(_ASCII)


def surname_for(surname: str, gender: str) -> str:
    if gender == "f" and surname.endswith(("ski", "cki", "dzki")):
        return surname[:-1] + "a"
    return surname


def black_friday(year: int) -> date:
    """The Friday after the fourth Thursday of November."""
    first = date(year, 11, 1)
    first_thursday = first + timedelta(days=(3 - first.weekday()) % 7)
    return first_thursday + timedelta(days=22)


def season(day: date) -> float:
    """How busy a day is compared with an ordinary weekday: holidays, sales, summer and the Sunday trading ban."""
    bf = black_friday(day.year)
    if bf - timedelta(days=4) <= day <= bf + timedelta(days=3):
        factor = 2.5  # Black Friday week, through Cyber Monday
    elif day.month == 12:
        factor = 0.3 if 24 <= day.day <= 26 else 1.8 if day.day < 24 else 1.1
    elif (day.month, day.day) >= (2, 7) and (day.month, day.day) <= (2, 14):
        factor = 1.3  # Valentine's Day
    elif day.month == 3 and day.day <= 8:
        factor = 1.4  # Dzień Kobiet
    elif day.month == 5 and 19 <= day.day <= 26:
        factor = 1.4  # Dzień Matki
    elif day.month in (7, 8):
        factor = 0.8
    elif day.month in (1, 6):
        factor = 0.9
    else:
        factor = 1.0
    weekday = (1.0, 1.0, 1.0, 1.05, 1.15, 1.3, 0.45)[day.weekday()]
    return factor * weekday


def _weighted(pairs: Iterable[tuple]) -> tuple[list, list[float]]:
    values, weights = [], []
    for value, weight in pairs:
        values.append(value)
        weights.append(weight)
    return values, list(itertools.accumulate(weights))
