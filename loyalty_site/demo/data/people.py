"""The people of the demo, planned from a seed: names, contacts, consents, when they join and buy."""

import random
from collections.abc import Iterator
from datetime import date, datetime, timedelta, tzinfo

from .plans import PersonPlan
from .vocabulary import (
    CITIES,
    EMAIL_DOMAINS,
    FEMALE_FIRST_NAMES,
    MALE_FIRST_NAMES,
    MOBILE_PREFIXES,
    REFERRAL_ALPHABET,
    SURNAMES,
    _weighted,
    ascii_fold,
    surname_for,
)


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
