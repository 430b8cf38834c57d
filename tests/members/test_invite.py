"""Inviting members to the portal from the admin: an email with the claim flow's link, for members without a
login; logged, permission-guarded, and the link activates the account."""

import re

from django.contrib.admin.models import LogEntry
from django.contrib.messages import get_messages
from django.core import mail
from django.test import Client
from django.urls import reverse

from members.models import AccountToken, Member

CHANGELIST = reverse("admin:members_member_changelist")
NEW_PASSWORD = "Zielona-Herbata-42"


def invite(client, members):
    return client.post(
        CHANGELIST, {"action": "invite_to_portal", "_selected_action": [member.pk for member in members]}
    )


def messages_of(response) -> str:
    return " ".join(str(message) for message in get_messages(response.wsgi_request))


def test_invitations_go_to_members_without_a_login_and_with_an_email(role_client, make_member):
    fresh = make_member(first_name="Halina", email="halina@example.pl")
    with_login = make_member(login=True)
    no_email = make_member(email="")
    client = role_client("Support")

    response = invite(client, [fresh, with_login, no_email])

    assert response.status_code == 302
    assert [message.to for message in mail.outbox] == [["halina@example.pl"]]
    body = mail.outbox[0].body
    assert "Halina" in body and fresh.member_number in body
    assert "Wysłano 1 zaproszenie" in messages_of(response) or "Sent 1 invitation" in messages_of(response)
    logged = LogEntry.objects.filter(user=client.user)
    assert list(logged.values_list("object_id", flat=True)) == [str(fresh.pk)]
    assert AccountToken.objects.filter(member=fresh, purpose=AccountToken.Purpose.CLAIM).count() == 1
    assert not AccountToken.objects.filter(member__in=[with_login, no_email]).exists()

    # The link is the claim flow's: it sets a password and gives that member a login.
    link = re.search(r"http://testserver(/aktywuj/\d+/\S+/)", body).group(1)
    assert Client().get(link).status_code == 200
    assert Client().post(link, {"password": NEW_PASSWORD}).status_code == 302
    fresh.refresh_from_db()
    assert fresh.user is not None and fresh.email_verified_at is not None


def test_a_filtered_selection_is_invited_and_a_second_invitation_spends_the_first(role_client, make_member):
    members = [make_member() for _ in range(3)]
    client = role_client("Programme manager")

    invite(client, members)
    invite(client, members[:1])

    assert len(mail.outbox) == 4
    tokens = AccountToken.objects.filter(member=members[0]).order_by("id")
    assert [token.used_at is None for token in tokens] == [False, True]


def test_staff_who_may_not_change_members_cannot_invite(role_client, make_member):
    member = make_member()
    client = role_client("Analyst")

    page = client.get(CHANGELIST)
    response = invite(client, [member])

    assert "invite_to_portal" not in page.content.decode()
    assert response.status_code in (200, 302, 403)
    assert mail.outbox == [] and not AccountToken.objects.exists()
    assert Member.objects.get(pk=member.pk).user_id is None
