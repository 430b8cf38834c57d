"""Deterministic Polish demo data for `manage.py demo_seed`: people, places, products and a purchase stream.

Pure Python, no database: the same seed and the same day give the same members and purchases. Dates are
relative to the day of the run so the demo always has fresh pending points and points about to expire.
"""

import itertools
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
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


@dataclass(slots=True)
class PersonPlan:
    """One member to create, and how they will buy."""

    index: int
    member_number: str
    referral_code: str
    card_number: str
    first_name: str
    last_name: str
    gender: str
    email: str
    phone: str
    birth_date: date | None
    city: str
    postal_code: str
    joined_at: datetime
    join_source: str
    preferred_channel: str
    referrer_index: int | None
    # (channel, purpose, granted, at, source): the consent events to record, oldest first.
    consents: list[tuple[str, str, bool, datetime, str]]
    weight: float
    active_from: date
    active_until: date
    home_store: str
    online_share: float
    lapsed: bool

    @property
    def profile_complete(self) -> bool:
        return all([self.email, self.phone, self.birth_date, self.city, self.postal_code])


@dataclass(frozen=True, slots=True)
class Buyer:
    """What the purchase stream needs of a member once they are in the database."""

    member_id: int
    weight: float
    active_from: date
    active_until: date
    home_store: str
    online_share: float


@dataclass(frozen=True, slots=True)
class PlannedLine:
    sku: str
    product_name: str
    category: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class PlannedRefund:
    external_id: str
    amount: Decimal
    at: datetime


@dataclass(frozen=True, slots=True)
class PlannedPurchase:
    member_id: int
    source: str
    external_id: str
    store: str
    purchased_at: datetime
    amount: Decimal
    lines: tuple[PlannedLine, ...]
    refund: PlannedRefund | None


def _weighted(pairs: Iterable[tuple]) -> tuple[list, list[float]]:
    values, weights = [], []
    for value, weight in pairs:
        values.append(value)
        weights.append(weight)
    return values, list(itertools.accumulate(weights))


class PeoplePlanner:
    """Plans members in the order they joined. The first one is the showcase member behind the demo login."""

    def __init__(self, *, seed: int, count: int, start: datetime, end: datetime, tz: tzinfo) -> None:
        self.rng = random.Random(f"{seed}:people")
        self.count = count
        self.start, self.end, self.tz = start, end, tz
        self._cities, self._city_cum = _weighted((city, city[1]) for city in CITIES)
        self._domains, self._domain_cum = _weighted(EMAIL_DOMAINS)
        self._emails: set[str] = set()
        self._phones: set[str] = set()
        self._codes: set[str] = set()

    def __iter__(self) -> Iterator[PersonPlan]:
        rng = self.rng
        numbers = rng.sample(range(10**9, 10**10), self.count)
        span = (self.end - self.start).total_seconds()
        joined = []
        for _ in range(self.count):
            # About a third joined before the period (up to three years earlier); the rest during it.
            offset = -rng.uniform(0, 3 * 365 * 86400) if rng.random() < 0.35 else rng.uniform(0, span)
            joined.append(self.start + timedelta(seconds=max(min(offset, span - 86400), -3 * 365 * 86400)))
        joined.sort()
        # The showcase member joined first, long before the period, and buys often.
        joined[0] = min(joined[0], self.start - timedelta(days=420))
        for index, joined_at in enumerate(joined):
            yield self._person(index, numbers[index], joined_at.astimezone(self.tz))

    def _person(self, index: int, number: int, joined_at: datetime) -> PersonPlan:
        rng = self.rng
        showcase = index == 0
        gender = "f" if showcase or rng.random() < 0.64 else "m"
        first_name = rng.choice(FEMALE_FIRST_NAMES if gender == "f" else MALE_FIRST_NAMES)
        last_name = surname_for(rng.choice(SURNAMES), gender)
        if showcase:
            first_name, last_name = "Anna", "Kowalska"
        city = CITIES[0] if showcase else rng.choices(self._cities, cum_weights=self._city_cum)[0]
        has_address = showcase or rng.random() < 0.95
        before_period = joined_at < self.start
        if showcase:
            join_source = "store"
        elif index > 50 and rng.random() < 0.1:
            join_source = "referral"
        elif before_period and rng.random() < 0.4:
            join_source = "import"
        else:
            join_source = "online" if rng.random() < 0.4 else "store"
        email = self._email(first_name, last_name) if showcase or rng.random() < 0.92 else ""
        phone = self._phone() if showcase or rng.random() < 0.9 else ""
        age_days = int(rng.triangular(18, 78, 34) * 365.25)
        birth_date = (self.end.date() - timedelta(days=age_days)) if showcase or rng.random() < 0.9 else None
        weight, active_from, active_until, lapsed = self._buying(joined_at, showcase)
        return PersonPlan(
            index=index,
            member_number=str(number),
            referral_code=self._referral_code(),
            card_number=_card_number(index),
            first_name=first_name,
            last_name=last_name,
            gender=gender,
            email=email,
            phone=phone,
            birth_date=birth_date,
            city=city[0] if has_address else "",
            postal_code=f"{rng.choice(city[2])}-{rng.randrange(1000):03d}" if has_address else "",
            joined_at=joined_at,
            join_source=join_source,
            preferred_channel="sms" if phone and rng.random() < 0.2 else "email",
            referrer_index=rng.randrange(index) if join_source == "referral" else None,
            consents=self._consents(joined_at, email, phone, join_source, showcase),
            weight=weight,
            active_from=active_from,
            active_until=active_until,
            home_store=city[3],
            online_share=0.6 if showcase else rng.choice((0.05, 0.1, 0.2, 0.35, 0.7)),
            lapsed=lapsed,
        )

    def _buying(self, joined_at: datetime, showcase: bool) -> tuple[float, date, date, bool]:
        """Pareto-distributed frequency; about 30% lapsed (last purchase 6+ months ago), some never buy."""
        rng = self.rng
        first_day = self.start.date()
        last_day = self.end.date() - timedelta(days=1)
        active_from = max(joined_at.date() + timedelta(days=1), first_day)
        weight = min(rng.paretovariate(1.2), 15.0)
        if showcase:
            return weight, active_from, last_day, False
        if rng.random() < 0.04:
            return 0.0, active_from, active_from - timedelta(days=1), False  # signed up, never bought
        lapse_before = last_day - timedelta(days=183)
        if active_from < lapse_before - timedelta(days=30) and rng.random() < 0.42:
            stop = active_from + timedelta(days=rng.randrange(30, (lapse_before - active_from).days + 1))
            return weight, active_from, stop, True
        return weight, active_from, last_day, False

    def _consents(
        self, joined_at: datetime, email: str, phone: str, join_source: str, showcase: bool
    ) -> list[tuple[str, str, bool, datetime, str]]:
        rng = self.rng
        source = "import" if join_source == "import" else "signup"
        odds = {
            ("email", "marketing"): 0.72,
            ("email", "profiling"): 0.45,
            ("email", "partners"): 0.15,
            ("sms", "marketing"): 0.45,
            ("sms", "profiling"): 0.2,
            ("sms", "partners"): 0.08,
        }
        events = []
        for (channel, purpose), chance in odds.items():
            if not (email if channel == "email" else phone):
                continue
            granted = purpose != "partners" if showcase else rng.random() < chance
            if not granted:
                continue
            at = joined_at + timedelta(minutes=rng.randrange(1, 30))
            events.append((channel, purpose, True, at, source))
            if not showcase and rng.random() < 0.12:
                later = at + (self.end - at) * rng.random()
                how = "unsubscribe" if channel == "email" else "sms_stop"
                events.append((channel, purpose, False, later, how if purpose == "marketing" else "portal"))
        return events

    def _email(self, first_name: str, last_name: str) -> str:
        rng = self.rng
        first, last = ascii_fold(first_name).lower(), ascii_fold(last_name).lower()
        domain = rng.choices(self._domains, cum_weights=self._domain_cum)[0]
        local = rng.choice((f"{first}.{last}", f"{first}{last}", f"{first[0]}.{last}", f"{first}_{last}"))
        email = f"{local}@{domain}"
        while email in self._emails:
            email = f"{local}{rng.randrange(1, 1000)}@{domain}"
        self._emails.add(email)
        return email

    def _phone(self) -> str:
        while True:
            phone = f"+48{self.rng.choice(MOBILE_PREFIXES)}{self.rng.randrange(10**7):07d}"
            if phone not in self._phones:
                self._phones.add(phone)
                return phone

    def _referral_code(self) -> str:
        while True:
            code = "".join(self.rng.choices(REFERRAL_ALPHABET, k=8))
            if code not in self._codes:
                self._codes.add(code)
                return code


def _card_number(index: int) -> str:
    """An EAN-13 in the in-store range 29x: unique per member, with a valid check digit."""
    body = f"299{index:09d}"
    total = sum(int(digit) * (3 if position % 2 else 1) for position, digit in enumerate(body))
    return body + str((10 - total % 10) % 10)


class PurchasePlanner:
    """A chronological stream of purchases: how many per day follows the season and the members active that
    day; who buys is drawn by each member's weight, so a few buy weekly and most a few times a year."""

    def __init__(self, *, seed: int, first_day: date, last_day: date, tz: tzinfo) -> None:
        self.rng = random.Random(f"{seed}:purchases")
        self.first_day, self.last_day, self.tz = first_day, last_day, tz
        self.days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]
        self.seasons = [season(day) for day in self.days]
        self._season_prefix = [0.0, *itertools.accumulate(self.seasons)]
        self._categories, self._category_cum = _weighted((category, category[2]) for category in CATEGORIES)

    def exposure(self, active_from: date, active_until: date) -> float:
        """The sum of the season over a member's active days: their expected share is weight x exposure."""
        lo = max((active_from - self.first_day).days, 0)
        hi = min((active_until - self.first_day).days + 1, len(self.days))
        return self._season_prefix[hi] - self._season_prefix[lo] if hi > lo else 0.0

    def stream(
        self, buyers: list[Buyer], total: int, extra: Iterable[tuple[datetime, int]] = ()
    ) -> Iterator[PlannedPurchase]:
        """`total` purchases drawn from `buyers`, plus the `extra` (time, buyer index) ones, in time order."""
        rng = self.rng
        extra_by_day: dict[date, list[tuple[datetime, int]]] = {}
        for at, buyer_index in extra:
            extra_by_day.setdefault(at.date(), []).append((at, buyer_index))
        total -= sum(len(items) for items in extra_by_day.values())
        counts = self._counts_per_day(buyers, max(total, 0))
        starting: dict[date, list[int]] = {}
        ending: dict[date, list[int]] = {}
        for index, buyer in enumerate(buyers):
            if buyer.weight > 0 and buyer.active_until >= buyer.active_from:
                starting.setdefault(buyer.active_from, []).append(index)
                ending.setdefault(buyer.active_until + timedelta(days=1), []).append(index)
        # The weights of the members active at some time in the current week, rebuilt weekly (rebuilding for
        # each day costs more than drawing again when a draw falls outside the member's active days).
        weights = [0.0] * len(buyers)
        population = range(len(buyers))
        sequence = itertools.count(1)
        cumulative: list[float] = []
        for day_index, day in enumerate(self.days):
            if day_index % 7 == 0:
                for offset in range(7):
                    for index in starting.get(day + timedelta(days=offset), ()):
                        weights[index] = buyers[index].weight
                    for index in ending.get(day - timedelta(days=offset), ()):
                        weights[index] = 0.0
                cumulative = list(itertools.accumulate(weights))
            todays = [(at, index, self._online(day, buyers[index])) for at, index in extra_by_day.get(day, ())]
            for index in (
                rng.choices(population, cum_weights=cumulative, k=counts[day_index]) if counts[day_index] else ()
            ):
                while not buyers[index].active_from <= day <= buyers[index].active_until:
                    index = rng.choices(population, cum_weights=cumulative)[0]
                online = self._online(day, buyers[index])
                todays.append((self._moment(day, online), index, online))
            todays.sort(key=lambda item: (item[0], item[1]))
            festive = day.month == 12 or self.seasons[day_index] >= 2.0
            for at, index, online in todays:
                yield self._purchase(next(sequence), buyers[index], at, online, festive)

    def _counts_per_day(self, buyers: list[Buyer], total: int) -> list[int]:
        active = [0.0] * (len(self.days) + 1)
        for buyer in buyers:
            if buyer.weight <= 0 or buyer.active_until < buyer.active_from:
                continue
            lo = max((buyer.active_from - self.first_day).days, 0)
            hi = min((buyer.active_until - self.first_day).days + 1, len(self.days))
            if hi > lo:
                active[lo] += buyer.weight
                active[hi] -= buyer.weight
        demand = [s * a for s, a in zip(self.seasons, itertools.accumulate(active), strict=False)]
        whole = sum(demand)
        if not whole:
            return [0] * len(self.days)
        shares = [total * d / whole for d in demand]
        counts = [int(share) for share in shares]
        # Largest remainder: the counts add up to exactly `total`.
        by_remainder = sorted(range(len(shares)), key=lambda n: counts[n] - shares[n])
        for n in by_remainder[: total - sum(counts)]:
            counts[n] += 1
        return counts

    def _online(self, day: date, buyer: Buyer) -> bool:
        # Most shops are closed on Sundays in Poland (the Sunday trading ban): Sunday purchases are online.
        return day.weekday() == 6 or self.rng.random() < buyer.online_share

    def _moment(self, day: date, online: bool) -> datetime:
        rng = self.rng
        if online:
            hour = rng.choices(range(24), cum_weights=_ONLINE_HOURS_CUM)[0]
        else:
            hour = rng.choices(range(9, 21), cum_weights=_STORE_HOURS_CUM)[0]
        return datetime.combine(day, time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=self.tz)

    def _purchase(self, sequence: int, buyer: Buyer, at: datetime, online: bool, festive: bool) -> PlannedPurchase:
        rng = self.rng
        if online:
            store = ONLINE
        elif rng.random() < 0.85:
            store = buyer.home_store
        else:
            store = rng.choice(STORES)
        median = 85.0 * (1.25 if festive else 1.0)
        value = min(max(rng.lognormvariate(math.log(median), 0.7), 20.0), 799.0)
        amount = Decimal(f"{math.floor(value)}.99") if rng.random() < 0.6 else Decimal(f"{value:.2f}")
        lines = self._lines(amount) if rng.random() < 0.4 else ()
        external_id = f"DEMO-{sequence:08d}"
        refund = None
        if rng.random() < 0.02:
            if lines and rng.random() < 0.5:
                refunded = rng.choice(lines).amount
            elif rng.random() < 0.4:
                refunded = amount
            else:
                refunded = (amount * Decimal(str(rng.uniform(0.2, 0.7)))).quantize(CENT)
            if refunded > 0:
                refund = PlannedRefund(f"R-{external_id}", refunded, at + timedelta(days=rng.uniform(1, 14)))
        return PlannedPurchase(
            member_id=buyer.member_id,
            source="eshop" if online else "pos",
            external_id=external_id,
            store=store,
            purchased_at=at,
            amount=amount,
            lines=lines,
            refund=refund,
        )

    def _lines(self, amount: Decimal) -> tuple[PlannedLine, ...]:
        rng = self.rng
        count = rng.choices((1, 2, 3, 4), cum_weights=(35, 65, 85, 100))[0]
        count = min(count, int(amount / Decimal("5")) or 1)
        shares = [rng.random() + 0.3 for _ in range(count)]
        whole = sum(shares)
        parts = [(amount * Decimal(str(share / whole))).quantize(CENT) for share in shares[:-1]]
        parts.append(amount - sum(parts, Decimal("0")))
        lines = []
        for part in parts:
            if part <= 0:
                return ()
            name, code, _share, products = rng.choices(self._categories, cum_weights=self._category_cum)[0]
            product = rng.randrange(len(products))
            lines.append(PlannedLine(f"{code}-{product + 1:03d}", products[product], name, part))
        return tuple(lines)


def showcase_weight(*, target: float, showcase_exposure: float, others: float, total: int) -> float:
    """The weight that gives the showcase member about `target` of `total` purchases, where `others` is the
    sum of weight x exposure over everyone else."""
    if showcase_exposure <= 0 or total <= target or others <= 0:
        return 40.0
    return target * others / (showcase_exposure * (total - target))
