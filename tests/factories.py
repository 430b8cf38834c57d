"""Test data built the way the programme builds it (factory-boy).

Members and purchases go through the services (`member_create`, `purchase_post`), so a test starts from
rows the application itself would have written: an enrolled member, a purchase with its points posted and
its lines recorded. Configuration (tiers, earning rules, partners, rewards) is plain rows, as staff type
them in the admin. Staff users come in the roles the migrations create (rewards/0003_staff_roles).

    member = MemberFactory()                        # an active member, no portal login
    member = MemberFactory(login=True)              # with a portal login, password PASSWORD
    purchase = PurchaseFactory(member=member, amount=Decimal("250.00"), line_count=2)
    gold = TierFactory(code="gold", rank=2, threshold=Decimal("5000"), earn_multiplier=Decimal("1.5"))
    support = StaffFactory(role="Support")
    reward = RewardFactory(partner=PartnerFactory(), points_cost=500)
    ProgramSettingsFactory(pending_days=14)         # the programme's one settings row, these fields written
    row = PurchaseRowFactory(member=member, amount=Decimal("80.00"))  # a row for rewards.batch, not posted

`tests/conftest.py`'s `make_member` fixture is the same as `MemberFactory` for tests written before.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from factory.django import DjangoModelFactory

from members.models import Member, Purchase
from members.services import LineData, member_create
from rewards.batch import PurchaseRow
from rewards.models import Category, EarningRule, EventRule, Partner, ProgramSettings, Reward, Tier
from rewards.services import purchase_post

PASSWORD = "secret-pass-1"
VALID_NIP = "1234563218"  # 123-456-32-18: its check digit is right

# The staff roles the migrations create, by the name tests use.
ROLES = ("Programme manager", "Marketing", "Support", "Analyst")


# --- People -------------------------------------------------------------------------------------------


class UserFactory(DjangoModelFactory):
    """A login with no staff rights (a member's portal login)."""

    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.pl")
    password = factory.django.Password(PASSWORD)


class StaffFactory(UserFactory):
    """A staff user in one of ROLES (`role=`), or in none: they see only what a role grants."""

    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"staff{n}")
    is_staff = True

    @factory.post_generation
    def role(user, create, role: str | None, **kwargs):
        if role:
            user.groups.add(Group.objects.get(name=role))


class SuperuserFactory(UserFactory):
    username = factory.Sequence(lambda n: f"admin{n}")
    is_staff = True
    is_superuser = True


class MemberFactory(factory.Factory):
    """An enrolled member, created by `member_create` (random number and referral code, audit row).
    `login=True` gives them a portal login with PASSWORD."""

    class Meta:
        model = Member

    class Params:
        login = False

    first_name = "Jan"
    last_name = factory.Sequence(lambda n: f"Kowalski{n}")
    email = factory.Sequence(lambda n: f"jan{n}@example.pl")
    phone = factory.Sequence(lambda n: f"+4860{n:07d}")
    user = factory.Maybe("login", yes_declaration=factory.SubFactory(UserFactory), no_declaration=None)

    @classmethod
    def _create(cls, model_class, **kwargs) -> Member:
        return member_create(**kwargs)


# --- Purchases ----------------------------------------------------------------------------------------


class LineFactory(factory.Factory):
    """One line of a purchase (members.services.LineData)."""

    class Meta:
        model = LineData

    sku = factory.Sequence(lambda n: f"SKU-{n:05d}")
    product_name = factory.LazyAttribute(lambda line: f"Produkt {line.sku}")
    category = "Kosmetyki"
    quantity = Decimal("1")
    amount = Decimal("10.00")


def lines_for(amount: Decimal, count: int, **line) -> list[LineData]:
    """`count` lines adding up to `amount` exactly (the last takes the grosze left over)."""
    share = (amount / count).quantize(Decimal("0.01"))
    amounts = [share] * (count - 1) + [amount - share * (count - 1)]
    return [LineFactory(amount=each, **line) for each in amounts]


@dataclass
class _PostedPurchase:  # what purchase_post is called with; the factory returns the Purchase it recorded
    member: Member
    source: str
    external_id: str
    amount: Decimal
    purchased_at: datetime | None
    store: str
    lines: list


class PurchaseFactory(factory.Factory):
    """A purchase posted by `purchase_post`: the earning rules apply and its points are in the ledger.
    `line_count=n` gives it n lines adding up to its amount (category `line_category`); `lines=[...]` any."""

    class Meta:
        model = _PostedPurchase

    class Params:
        line_count = 0
        line_category = "Kosmetyki"

    member = factory.SubFactory(MemberFactory)
    source = "pos"
    external_id = factory.Sequence(lambda n: f"PAR-{n:06d}")
    amount = Decimal("100.00")
    purchased_at = None
    store = "online"
    lines = factory.LazyAttribute(
        lambda p: lines_for(p.amount, p.line_count, category=p.line_category) if p.line_count else []
    )

    @classmethod
    def _create(cls, model_class, **kwargs) -> Purchase:
        return purchase_post(**kwargs).purchase


class PurchaseRowFactory(factory.Factory):
    """A row for the batch (rewards.batch.PurchaseRow), built only: `purchases_post_batch` posts it. For
    `member=` (a new member unless `member_id=` names one, even one that does not exist), bought now."""

    class Meta:
        model = PurchaseRow

    class Params:
        member = None

    member_id = factory.LazyAttribute(lambda row: (row.member or MemberFactory()).pk)
    source = "pos"
    external_id = factory.Sequence(lambda n: f"ROW-{n:06d}")
    amount = Decimal("100.00")
    purchased_at = factory.LazyFunction(lambda: timezone.now())  # looked up when built: a test's clock counts
    store = "online"
    lines = ()


# --- Configuration --------------------------------------------------------------------------------------


class ProgramSettingsFactory(DjangoModelFactory):
    """The programme's settings, its one row (pk 1): the fields given, and these defaults (as the `program`
    fixture: 1 point per PLN, no return window, points live 12 months), written over what the row holds."""

    class Meta:
        model = ProgramSettings

    base_points_per_pln = Decimal("1")
    pending_days = 0
    points_lifetime_months = 12

    @classmethod
    def _create(cls, model_class, **kwargs) -> ProgramSettings:
        settings, _ = model_class.objects.update_or_create(pk=1, defaults=kwargs)
        return settings


class TierFactory(DjangoModelFactory):
    class Meta:
        model = Tier
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"tier-{n}")
    name = factory.LazyAttribute(lambda tier: tier.code.capitalize())
    rank = factory.Sequence(lambda n: n + 10)
    threshold = Decimal("0")
    earn_multiplier = Decimal("1")


def standard_tiers() -> list[Tier]:
    """Bronze from 0, silver from 1,000 PLN (x1.25), gold from 5,000 PLN (x1.5): the `tiers` fixture."""
    return [
        TierFactory(code="bronze", name="Brązowy", rank=0, threshold=Decimal("0")),
        TierFactory(code="silver", name="Srebrny", rank=1, threshold=Decimal("1000"), earn_multiplier=Decimal("1.25")),
        TierFactory(code="gold", name="Złoty", rank=2, threshold=Decimal("5000"), earn_multiplier=Decimal("1.5")),
    ]


class EarningRuleFactory(DjangoModelFactory):
    """A rule with no conditions: x2 unless told otherwise (`kind`, `multiplier`, `bonus_points`, ...); other kinds
    keep the model's multiplier of 1."""

    class Meta:
        model = EarningRule

    name = factory.Sequence(lambda n: f"Reguła {n}")
    kind = EarningRule.Kind.MULTIPLIER
    multiplier = factory.LazyAttribute(
        lambda rule: Decimal("2") if rule.kind == EarningRule.Kind.MULTIPLIER else Decimal("1")
    )


class EventRuleFactory(DjangoModelFactory):
    """Points for an event other than a purchase, once ever unless told otherwise."""

    class Meta:
        model = EventRule
        django_get_or_create = ("event",)

    event = EventRule.Event.JOINED
    points = 100
    cap_count = 1
    cap_period = EventRule.Period.EVER


class PartnerFactory(DjangoModelFactory):
    class Meta:
        model = Partner
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"partner-{n}")
    name = factory.Sequence(lambda n: f"Partner {n}")
    email = factory.LazyAttribute(lambda partner: f"kontakt@{partner.code}.pl")


class CategoryFactory(DjangoModelFactory):
    class Meta:
        model = Category
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"polka-{n}")
    name = factory.Sequence(lambda n: f"Półka {n}")


class RewardFactory(DjangoModelFactory):
    """A voucher reward the programme supplies itself, 1,500 points, unlimited stock."""

    class Meta:
        model = Reward
        django_get_or_create = ("code",)

    code = factory.Sequence(lambda n: f"nagroda-{n}")
    name = factory.Sequence(lambda n: f"Nagroda {n}")
    kind = Reward.Kind.VOUCHER
    points_cost = 1500
