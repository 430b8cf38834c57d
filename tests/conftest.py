"""Shared fixtures: members, tiers and rules set up through the services, as users would create them."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from rewards.models import ProgramSettings

from .factories import MemberFactory, SuperuserFactory, standard_tiers


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # The test client and live server speak plain HTTP; production keeps these on (see check --deploy test).
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


@pytest.fixture
def make_member(db):
    """Enrol a member through the service (tests.factories.MemberFactory). `login=True` gives them a portal
    login (password 'secret-pass-1')."""

    def make(*, login: bool = False, **kwargs):
        return MemberFactory(login=login, **kwargs)

    return make


@pytest.fixture
def member(make_member):
    return make_member()


@pytest.fixture
def program(db):
    """Programme settings with no return window and no expiry unless a test says otherwise."""
    settings, _ = ProgramSettings.objects.update_or_create(
        pk=1,
        defaults={"base_points_per_pln": Decimal("1"), "pending_days": 0, "points_lifetime_months": 12},
    )
    return settings


@pytest.fixture
def tiers(db):
    """Bronze from 0, silver from 1,000 PLN (x1.25), gold from 5,000 PLN (x1.5)."""
    return standard_tiers()


@pytest.fixture
def staff_user(db):
    return SuperuserFactory(username="admin", email="a@example.pl")


@pytest.fixture
def admin_client_(client, staff_user):
    """The test client logged in as `staff_user`, a superuser (role_client for a staff role)."""
    client.force_login(staff_user)
    return client


@pytest.fixture
def role_client(db, client):
    """The shared staff client: `role_client(role)` is the test client logged in as a new staff user in one
    of the staff roles (groups made by the migrations, e.g. rewards/0003_staff_roles), or in none (None).
    The user is `client.user`."""

    def login(role: str | None):
        username = role.lower().replace(" ", "-") if role else "no-role"
        user = get_user_model().objects.create_user(username=username, is_staff=True)
        if role:
            user.groups.add(Group.objects.get(name=role))
        client.force_login(user)
        client.user = user
        return client

    return login


@pytest.fixture
def eager_celery():
    """Tasks run in the process that sends them. The Celery app read its settings at import, so set it there."""
    from loyalty_site.celery import app

    previous = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield app
    app.conf.task_always_eager = previous


@pytest.fixture
def polish_portal(settings):
    """The portal read in Polish, the programme's language (the project's catalogue, locale/pl)."""
    settings.LANGUAGE_CODE = "pl"
    return settings


@pytest.fixture
def english(settings):
    """The site in English, for tests that read the messages as their authors wrote them (English msgids);
    the Polish of every message is checked by the catalogue's completeness test."""
    from django.utils import translation

    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield settings
