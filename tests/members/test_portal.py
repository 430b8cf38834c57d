"""The members app's portal pages: log in, log out, the home page's frame, the page for a login without membership."""

import pytest
from django.urls import reverse

from members.models import Member

pytestmark = pytest.mark.usefixtures("polish_portal")  # the portal's Polish, from its fragment

PASSWORD = "secret-pass-1"


@pytest.fixture
def anna(make_member):
    return make_member(login=True, first_name="Anna", last_name="Nowak")


# --- Log in and out ------------------------------------------------------------------------------


def test_anonymous_visitor_is_sent_from_home_to_login(client, db):
    response = client.get(reverse("portal:home"))
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('portal:login')}?next=/"


def test_login_page_renders_the_form(client, db):
    response = client.get(reverse("portal:login"))
    assert response.status_code == 200
    assert b'name="username"' in response.content and b'name="password"' in response.content
    assert "registration/login.html" in [template.name for template in response.templates]


def test_member_logs_in_with_password_and_lands_on_home(client, anna):
    response = client.post(reverse("portal:login"), {"username": anna.user.username, "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("portal:home")
    assert "Anna" in response.content.decode()


def test_login_follows_next_within_the_portal(client, anna):
    response = client.post(
        reverse("portal:login"),
        {"username": anna.user.username, "password": PASSWORD, "next": reverse("portal:history")},
    )
    assert response.status_code == 302 and response["Location"] == reverse("portal:history")


def test_logged_in_member_opening_login_goes_home(client, anna):
    client.force_login(anna.user)
    response = client.get(reverse("portal:login"))
    assert response.status_code == 302 and response["Location"] == reverse("portal:home")


def test_wrong_password_shows_an_error_and_stays_logged_out(client, anna):
    response = client.post(reverse("portal:login"), {"username": anna.user.username, "password": "wrong"})
    assert response.status_code == 200
    assert "_auth_user_id" not in client.session
    assert b"alert--error" in response.content


def test_login_accepts_only_get_and_post(client, db):
    assert client.put(reverse("portal:login")).status_code == 405


def test_logout_needs_post(client, anna):
    client.force_login(anna.user)
    assert client.get(reverse("portal:logout")).status_code == 405
    assert "_auth_user_id" in client.session
    response = client.post(reverse("portal:logout"))
    assert response.status_code == 302 and response["Location"] == reverse("portal:login")
    assert "_auth_user_id" not in client.session


def test_htmx_logout_redirects_the_browser_with_hx_redirect(client, anna):
    client.force_login(anna.user)
    response = client.post(reverse("portal:logout"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("portal:login")
    assert "_auth_user_id" not in client.session


# --- Home: the frame around the apps' cards ------------------------------------------------------


def test_home_greets_the_member_with_their_number_and_the_navigation(client, anna):
    client.force_login(anna.user)
    response = client.get(reverse("portal:home"))
    assert response.status_code == 200
    assert "members/portal/home.html" in [template.name for template in response.templates]
    html = response.content.decode()
    assert "Cześć, Anna!" in html and anna.member_number in html
    assert f'href="{reverse("portal:home")}" aria-current="page">Start</a>' in html
    assert f'href="{reverse("portal:history")}">Historia</a>' in html
    assert f'action="{reverse("portal:logout")}"' in html


def test_home_warns_a_suspended_member(client, anna):
    Member.objects.filter(pk=anna.pk).update(status=Member.Status.SUSPENDED)
    client.force_login(anna.user)
    html = client.get(reverse("portal:home")).content.decode()
    assert "alert--warning" in html and "zawieszone" in html


def test_home_refuses_post(client, anna):
    client.force_login(anna.user)
    assert client.post(reverse("portal:home")).status_code == 405


def test_login_page_shows_no_navigation(client, db):
    html = client.get(reverse("portal:login")).content.decode()
    assert "site-nav" not in html


# --- No membership -------------------------------------------------------------------------------


def test_staff_without_membership_sees_a_friendly_page_with_admin_link(client, staff_user):
    client.force_login(staff_user)
    response = client.get(reverse("portal:home"))
    assert response.status_code == 200
    assert "members/portal/no_membership.html" in [template.name for template in response.templates]
    assert reverse("admin:index").encode() in response.content


def test_user_without_membership_gets_no_admin_link(client, django_user_model):
    user = django_user_model.objects.create_user(username="bez-karty", password=PASSWORD)
    client.force_login(user)
    response = client.get(reverse("portal:home"))
    assert "members/portal/no_membership.html" in [template.name for template in response.templates]
    assert reverse("admin:index").encode() not in response.content
    assert "bez-karty" in response.content.decode()


@pytest.mark.parametrize("status", [Member.Status.ERASED, Member.Status.MERGED])
def test_an_erased_or_merged_member_has_no_membership_in_the_portal(client, anna, make_member, status):
    survivor = make_member() if status == Member.Status.MERGED else None
    Member.objects.filter(pk=anna.pk).update(status=status, merged_into=survivor)
    client.force_login(anna.user)
    response = client.get(reverse("portal:home"))
    assert "members/portal/no_membership.html" in [template.name for template in response.templates]
    assert anna.member_number not in response.content.decode()
