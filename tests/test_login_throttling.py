"""Login throttling: lockout per account and per address on the portal and admin logins, unlock, no enumeration."""

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.admin.models import LogEntry
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.hashers import MD5PasswordHasher
from django.contrib.auth.models import Group, Permission
from django.db import connections
from django.test import Client
from django.urls import reverse

PASSWORD = "secret-pass-1"  # tests/conftest.py gives every member login this password
WRONG = "not-the-password"
PORTAL_LOCKOUT = "Too many failed attempts. Try again in 15 minutes or ask staff to unlock your account."
ADMIN_LOCKOUT = "Too many failed attempts. Try again in 15 minutes or ask an administrator to unlock your account."
PORTAL_WRONG = "The email, phone or card number and the password do not match"
ADMIN_WRONG = "Please enter the correct username and password for a staff account"


@pytest.fixture(autouse=True)
def _english(settings):
    settings.LANGUAGE_CODE = "en"  # the messages are asserted in their source language


@pytest.fixture
def member_user(make_member):
    return make_member(login=True).user


def client_at(address: str, **extra) -> Client:
    return Client(REMOTE_ADDR=address, **extra)


def portal_login(client, username, password):
    return client.post(reverse("portal:login"), {"username": username, "password": password})


def admin_login(client, username, password):
    return client.post(reverse("admin:login"), {"username": username, "password": password, "next": "/admin/"})


def alert(response) -> str:
    """The text of the page's error message (portal alert or admin error note), whitespace collapsed."""
    match = re.search(r'role="alert">(.*?)</(?:div|p)>', response.content.decode(), re.DOTALL) or re.search(
        r'class="errornote">(.*?)</p>', response.content.decode(), re.DOTALL
    )
    assert match, "no error message on the page"
    return " ".join(re.sub(r"<[^>]+>", " ", match.group(1)).split())


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_portal_locks_the_account_after_ten_wrong_passwords_and_refuses_the_right_one(member_user):
    client = client_at("198.51.100.1")
    for _ in range(10):
        response = portal_login(client, member_user.username, WRONG)
        assert response.status_code == 200
        assert PORTAL_WRONG in alert(response)

    eleventh = portal_login(client, member_user.username, WRONG)
    assert eleventh.status_code == 429
    assert alert(eleventh) == PORTAL_LOCKOUT
    assert b'name="password"' in eleventh.content  # the login page itself, in the portal's look
    assert eleventh["Retry-After"] == str(15 * 60)

    right = portal_login(client, member_user.username, PASSWORD)
    assert right.status_code == 429
    assert alert(right) == PORTAL_LOCKOUT
    assert not logged_in(client)

    # The lock is on the account, not on the browser: another address and client are refused too.
    elsewhere = client_at("203.0.113.50")
    assert portal_login(elsewhere, member_user.username, PASSWORD).status_code == 429
    assert not logged_in(elsewhere)


def test_admin_login_locks_the_account_after_ten_wrong_passwords_and_refuses_the_right_one(staff_user):
    client = client_at("198.51.100.2")
    for _ in range(10):
        response = admin_login(client, staff_user.username, WRONG)
        assert response.status_code == 200
        assert ADMIN_WRONG in alert(response)

    eleventh = admin_login(client, staff_user.username, WRONG)
    assert eleventh.status_code == 429
    assert alert(eleventh) == ADMIN_LOCKOUT
    assert b'id="login-form"' in eleventh.content  # the admin's own login page

    right = admin_login(client, staff_user.username, PASSWORD)
    assert right.status_code == 429
    assert alert(right) == ADMIN_LOCKOUT
    assert not logged_in(client)


@pytest.mark.parametrize(
    ("login", "url"), [(portal_login, "portal:login"), (admin_login, "admin:login")], ids=["portal", "admin"]
)
def test_an_account_that_does_not_exist_gets_the_same_answers_as_one_that_does(login, url, member_user, staff_user):
    existing = member_user.username if url == "portal:login" else staff_user.username

    def answers(username, address):
        client = client_at(address)
        responses = [login(client, username, WRONG) for _ in range(11)] + [login(client, username, PASSWORD)]
        return [(response.status_code, alert(response)) for response in responses]

    assert answers(existing, "198.51.100.3") == answers("no-such-user", "198.51.100.4")
    assert answers(existing, "198.51.100.3")[-1][0] == 429


class CountingHasher(MD5PasswordHasher):
    """Django's MD5 hasher (fast for tests) counting how often a password is hashed."""

    algorithm = "counting_md5"
    calls = 0
    _lock = threading.Lock()

    def encode(self, password, salt):
        with self._lock:
            type(self).calls += 1
        return super().encode(password, salt)


def hashes_during(action) -> int:
    before = CountingHasher.calls
    action()
    return CountingHasher.calls - before


def test_the_password_hasher_runs_alike_for_existing_and_missing_accounts_and_not_at_all_when_locked(
    settings, make_member
):
    # No wall-clock timing: the cost of a login is the number of times it hashes a password.
    settings.PASSWORD_HASHERS = ["tests.test_login_throttling.CountingHasher"]
    existing = make_member(login=True).user.username  # its password stored with the counting hasher
    existing_client, missing_client = client_at("198.51.100.5"), client_at("198.51.100.6")

    first_existing = hashes_during(lambda: portal_login(existing_client, existing, WRONG))
    first_missing = hashes_during(lambda: portal_login(missing_client, "no-such-user", WRONG))
    assert first_existing == first_missing == 1

    for _ in range(9):
        portal_login(existing_client, existing, WRONG)
        portal_login(missing_client, "no-such-user", WRONG)

    locked_existing = hashes_during(lambda: portal_login(existing_client, existing, PASSWORD))
    locked_missing = hashes_during(lambda: portal_login(missing_client, "no-such-user", PASSWORD))
    assert locked_existing == locked_missing == 0  # refused before any password check


@pytest.mark.concurrency
@pytest.mark.django_db(transaction=True)
def test_eight_parallel_clients_guessing_one_account_get_it_locked(settings, make_member):
    settings.PASSWORD_HASHERS = ["tests.test_login_throttling.CountingHasher"]
    username = make_member(login=True).user.username
    barrier = threading.Barrier(8)

    def guess(i):
        try:
            client = client_at(f"198.51.100.{100 + i}")  # eight addresses: only the account limit applies
            barrier.wait(timeout=30)
            return [portal_login(client, username, f"guess-{i}-{n}").status_code for n in range(25)]
        finally:
            connections.close_all()

    def attack():
        with ThreadPoolExecutor(max_workers=8) as pool:
            assert all(status in (200, 429) for statuses in pool.map(guess, range(8)) for status in statuses)

    checked = hashes_during(attack)
    # The check before a login and the count after it are not one transaction: each parallel client can get at
    # most one guess in past the limit, not the 200 it asked for.
    assert settings.LOGIN_FAILURE_LIMIT <= checked <= settings.LOGIN_FAILURE_LIMIT + 7
    assert portal_login(client_at("203.0.113.60"), username, PASSWORD).status_code == 429


def test_one_address_is_locked_after_failures_across_many_usernames(settings, member_user):
    limit = settings.LOGIN_ADDRESS_FAILURE_LIMIT
    assert limit > settings.LOGIN_FAILURE_LIMIT  # shops and mobile networks put many members behind one address
    attacker = client_at("198.51.100.7")
    for n in range(limit):
        assert portal_login(attacker, f"guess-{n}", WRONG).status_code == 200

    refused = portal_login(attacker, member_user.username, PASSWORD)
    assert refused.status_code == 429
    assert alert(refused) == PORTAL_LOCKOUT

    # The member's account is not locked: from their own address the right password works.
    member = client_at("203.0.113.51")
    assert portal_login(member, member_user.username, PASSWORD).status_code == 302
    assert logged_in(member)


def test_forwarded_addresses_are_ignored_unless_a_proxy_is_trusted(settings, member_user):
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 5
    for n in range(5):
        # A client inventing X-Forwarded-For on every request is still one address.
        client = client_at("198.51.100.8", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
        portal_login(client, f"guess-{n}", WRONG)
    assert portal_login(client_at("198.51.100.8"), member_user.username, PASSWORD).status_code == 429


def test_behind_a_trusted_proxy_the_address_it_forwards_is_the_one_counted(settings, member_user):
    settings.LOGIN_TRUSTED_PROXY_COUNT = 1
    settings.LOGIN_ADDRESS_FAILURE_LIMIT = 5
    proxy = "10.0.0.2"
    for n in range(5):
        # The leftmost entry is whatever the client sent; nginx appended the real address on the right.
        attacker = client_at(proxy, HTTP_X_FORWARDED_FOR=f"192.0.2.{n}, 198.51.100.9")
        portal_login(attacker, f"guess-{n}", WRONG)
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.9"}

    locked = client_at(proxy, HTTP_X_FORWARDED_FOR="198.51.100.9")
    assert portal_login(locked, member_user.username, PASSWORD).status_code == 429
    other_client = client_at(proxy, HTTP_X_FORWARDED_FOR="203.0.113.52")
    assert portal_login(other_client, member_user.username, PASSWORD).status_code == 302


def lock(user, address="198.51.100.10"):
    client = client_at(address)
    for _ in range(11):
        portal_login(client, user.username, WRONG)
    assert portal_login(client, user.username, PASSWORD).status_code == 429


def test_staff_unlock_action_on_users_lets_the_right_password_in_at_once(client, staff_user, member_user):
    lock(member_user)
    client.force_login(staff_user)
    response = client.post(
        reverse("admin:auth_user_changelist"), {"action": "unlock_login", "_selected_action": [member_user.pk]}
    )
    assert response.status_code == 302
    entry = LogEntry.objects.get(object_id=str(member_user.pk))
    assert entry.user == staff_user and "Unlocked login" in entry.get_change_message()

    member = client_at("198.51.100.10")
    assert portal_login(member, member_user.username, PASSWORD).status_code == 302
    assert logged_in(member)


def test_unlock_action_is_offered_only_to_staff_who_may_clear_attempts(client, db):
    clerk = get_user_model().objects.create_user(username="clerk", is_staff=True)
    clerk.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(clerk)
    page = client.get(reverse("admin:auth_user_changelist"))
    assert page.status_code == 200
    assert b"unlock_login" not in page.content

    clerk.user_permissions.add(Permission.objects.get(codename="delete_accessattempt"))
    assert b"unlock_login" in client.get(reverse("admin:auth_user_changelist")).content


@pytest.mark.parametrize("role", ["Support", "Programme manager"])
def test_roles_that_manage_members_clear_a_lockout_in_access_attempts(client, role, member_user):
    lock(member_user)
    staff = get_user_model().objects.create_user(username="role-user", is_staff=True)
    staff.groups.add(Group.objects.get(name=role))
    client.force_login(staff)
    changelist = reverse("admin:axes_accessattempt_changelist")
    listing = client.get(changelist, {"q": member_user.username})
    assert listing.status_code == 200
    assert member_user.username in listing.content.decode()

    ids = list(AccessAttempt.objects.filter(username=member_user.username).values_list("pk", flat=True))
    response = client.post(changelist, {"action": "delete_selected", "_selected_action": ids, "post": "yes"})
    assert response.status_code == 302
    assert portal_login(client_at("198.51.100.10"), member_user.username, PASSWORD).status_code == 302


def test_the_lockout_ends_when_the_cool_off_has_passed(settings, member_user):
    lock(member_user)
    cool_off = timedelta(minutes=settings.LOGIN_COOLOFF_MINUTES)
    # Travel in time by moving the recorded failures back, rather than waiting.
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - cool_off + timedelta(minutes=1)
    )
    client = client_at("198.51.100.10")
    assert portal_login(client, member_user.username, PASSWORD).status_code == 429  # a minute still to go

    AccessAttempt.objects.update(attempt_time=AccessAttempt.objects.get().attempt_time - timedelta(minutes=2))
    assert portal_login(client, member_user.username, PASSWORD).status_code == 302
    assert logged_in(client)


def test_attempts_during_a_lockout_do_not_extend_it(settings, member_user):
    lock(member_user)
    locked_at = AccessAttempt.objects.get().attempt_time
    client = client_at("198.51.100.10")
    for _ in range(5):
        assert portal_login(client, member_user.username, WRONG).status_code == 429
    assert AccessAttempt.objects.get().attempt_time == locked_at


def test_a_successful_login_clears_the_accounts_failures(member_user):
    client = client_at("198.51.100.11")
    for _ in range(9):
        portal_login(client, member_user.username, WRONG)
    assert portal_login(client, member_user.username, PASSWORD).status_code == 302
    client.post(reverse("portal:logout"))

    for _ in range(10):
        assert portal_login(client, member_user.username, WRONG).status_code == 200  # counting starts again
    assert portal_login(client, member_user.username, WRONG).status_code == 429


def test_authenticate_without_a_request_still_works_and_is_not_throttled(member_user):
    # Scripts and the demo smoke test call authenticate() without a request; web logins are locked meanwhile.
    lock(member_user)
    assert authenticate(username=member_user.username, password=PASSWORD) == member_user
    assert authenticate(username=member_user.username, password=WRONG) is None


def test_support_unlocks_a_member_from_the_members_list(client, make_member):
    member = make_member(login=True)
    lock(member.user)
    support = get_user_model().objects.create_user(username="counter", is_staff=True)
    support.groups.add(Group.objects.get(name="Support"))
    client.force_login(support)
    changelist = reverse("admin:members_member_changelist")
    assert b"unlock_login" in client.get(changelist).content
    response = client.post(changelist, {"action": "unlock_login", "_selected_action": [member.pk]})
    assert response.status_code == 302
    assert "Unlocked login" in LogEntry.objects.get(object_id=str(member.pk), user=support).get_change_message()
    assert portal_login(client_at("198.51.100.10"), member.user.username, PASSWORD).status_code == 302
