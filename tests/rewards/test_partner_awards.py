"""Partners' co-branded points: a list checked before anything is posted, posted whole or not at all, once per
member and promotion (a re-upload or a double click awards nobody twice), on the admin page staff with the
right role reach from the partner's page."""

import io
import re
import threading

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse

from members.models import Member
from rewards.models import LedgerEntry, Partner, PointsAccount
from rewards.partner_awards import AwardRefused, award_rows_read, partner_award_plan, partner_awards_post
from rewards.selectors import ledger_mismatches
from tests.factories import PartnerFactory


@pytest.fixture(autouse=True)
def _english(english):
    """Messages read as written (English msgids); their Polish is in the catalogue."""
    return english


@pytest.fixture
def awards_admin():
    """The partners' admin, which carries the awards mixin."""
    return admin.site._registry[Partner]


@pytest.fixture
def partner(db):
    return PartnerFactory(code="kino-helios", name="Kino Helios", email="partnerzy@helios.pl")


@pytest.fixture
def people(make_member, program):
    return [
        make_member(card_number="2900000000011", email="anna@example.pl"),
        make_member(card_number="2900000000028", email="bartek@example.pl"),
        make_member(email="celina@example.pl"),
    ]


def balance(member) -> int:
    account = PointsAccount.objects.filter(member=member).first()
    return account.balance if account else 0


def rows(text: str, name: str = "awards.csv"):
    return award_rows_read(stream=io.BytesIO(text.encode()), filename=name)


def csv_for(people) -> str:
    return (
        "card_number;email;points\n"
        f"{people[0].cards.get().number};;100\n"
        f";{people[2].email.upper()};250\n"
        f"{people[1].cards.get().number};;50\n"
    )


# --- The service ---------------------------------------------------------------------------------------


def test_a_list_is_checked_then_posted_once_per_member_and_promotion(partner, people):
    plan = partner_award_plan(partner=partner, promotion="luty", rows=rows(csv_for(people)))
    assert [line.status for line in plan.lines] == ["new", "new", "new"]
    assert plan.points == 400
    result = partner_awards_post(partner=partner, promotion="luty", reason="Bilety", awards=plan.to_payload())
    assert (result.awarded, result.already, result.points) == (3, 0, 400)
    assert [balance(m) for m in people] == [100, 50, 250]
    entry = LedgerEntry.objects.get(member=people[0])
    assert (entry.reference, entry.kind) == ("partner:kino-helios", LedgerEntry.Kind.BONUS)

    # The same file again: everyone is already awarded, nothing is posted.
    again = partner_award_plan(partner=partner, promotion="luty", rows=rows(csv_for(people)))
    assert [line.status for line in again.lines] == ["already"] * 3
    assert again.to_payload() == []
    # Even the old confirmation posted a second time (a double click) posts nothing.
    second = partner_awards_post(partner=partner, promotion="luty", reason="Bilety", awards=plan.to_payload())
    assert (second.awarded, second.already, second.points) == (0, 3, 0)
    assert [balance(m) for m in people] == [100, 50, 250]
    # Another promotion of the same partner is another award.
    march = partner_award_plan(partner=partner, promotion="marzec", rows=rows(csv_for(people)))
    partner_awards_post(partner=partner, promotion="marzec", reason="Bilety", awards=march.to_payload())
    assert [balance(m) for m in people] == [200, 100, 500]
    assert list(ledger_mismatches()) == []


def test_bad_rows_are_named_and_nothing_can_be_posted(partner, people, make_member):
    suspended = make_member(email="zawieszony@example.pl")
    Member.objects.filter(pk=suspended.pk).update(status=Member.Status.SUSPENDED)
    make_member(email="wspolny@example.pl")
    make_member(email="wspolny@example.pl")
    text = (
        "card_number;member_number;email;points\n"
        f"{people[0].cards.get().number};;;100\n"  # 2: fine
        "9999;;;100\n"  # 3: no such card
        ";;nikt@example.pl;10\n"  # 4: no such email
        ";;zawieszony@example.pl;10\n"  # 5: suspended
        ";;wspolny@example.pl;10\n"  # 6: two members share the email
        f";{people[1].member_number};;dużo\n"  # 7: not a number
        f";;{people[0].email};5\n"  # 8: the same member as line 2
        f"{people[0].cards.get().number};{people[1].member_number};;5\n"  # 9: two different members
        ";;;5\n"  # 10: nobody named
    )
    plan = partner_award_plan(partner=partner, promotion="luty", rows=rows(text))
    errors = {line.line: line.errors for line in plan.lines}
    assert errors[2] == []
    assert errors[3] == ["no member has the card 9999"]
    assert errors[4] == ["no member has the email nikt@example.pl"]
    assert errors[5] == [f"member {suspended.member_number} is not active (Suspended)"]
    assert errors[6] == ["wspolny@example.pl belongs to more than one member: give the card or member number"]
    assert errors[7] == ["points: 'dużo' is not a whole number greater than zero"]
    assert errors[8] == ["the same member as line 2: one award per member"]
    assert errors[9] == ["the card, number and email of this row belong to different members"]
    assert errors[10] == ["give the card number, member number or email"]
    assert len(plan.invalid) == 8


def test_a_member_suspended_after_the_check_stops_the_whole_list(partner, people):
    plan = partner_award_plan(partner=partner, promotion="luty", rows=rows(csv_for(people)))
    Member.objects.filter(pk=people[2].pk).update(status=Member.Status.SUSPENDED)
    with pytest.raises(AwardRefused) as refused:
        partner_awards_post(partner=partner, promotion="luty", reason="Bilety", awards=plan.to_payload())
    assert refused.value.args[0] == [
        f"line 3 (member {people[2].member_number}): Only an active member can be awarded points."
    ]
    assert not LedgerEntry.objects.exists()  # nothing half-applied


def test_files_with_a_wrong_header_are_refused_in_words(db):
    from loyalty_site.files.tabular import FileFormatError

    with pytest.raises(FileFormatError, match="unknown column punkty"):
        rows("email;punkty\na@example.pl;5\n")
    with pytest.raises(FileFormatError, match="needs a column points"):
        rows("email\na@example.pl\n")


def test_an_xlsx_list_is_read_like_a_csv(partner, people):
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["card_number", "points"])
    workbook.active.append([int(people[0].cards.get().number), 75])
    buffer = io.BytesIO()
    workbook.save(buffer)
    plan = partner_award_plan(
        partner=partner, promotion="xlsx", rows=award_rows_read(stream=io.BytesIO(buffer.getvalue()), filename="a.xlsx")
    )
    assert [(line.member, line.points, line.errors) for line in plan.lines] == [(people[0], 75, [])]


@pytest.mark.django_db(transaction=True)
def test_the_same_list_confirmed_twice_at_once_awards_once(make_member, program):
    """A double click: two requests, each on its own connection, post the same checked list together."""
    partner = PartnerFactory(code="kino", name="Kino", email="k@example.pl")
    members = [make_member(email=f"para{n}@example.pl") for n in range(5)]
    text = "email;points\n" + "".join(f"{m.email};{10 + n}\n" for n, m in enumerate(members))
    payload = partner_award_plan(partner=partner, promotion="luty", rows=rows(text)).to_payload()
    results, failures = [], []
    barrier = threading.Barrier(2)

    def confirm():
        try:
            barrier.wait()
            results.append(partner_awards_post(partner=partner, promotion="luty", reason="x", awards=payload))
        except Exception as exc:
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert sorted((r.awarded, r.already) for r in results) == [(0, 5), (5, 0)]
    assert [balance(m) for m in members] == [10, 11, 12, 13, 14]
    assert LedgerEntry.objects.filter(reference="partner:kino").count() == 5
    assert list(ledger_mismatches()) == []


# --- The admin page ------------------------------------------------------------------------------------


def _upload(client, url, text, **fields):
    data = {"promotion": "luty-2026", "reason": "Bilety w lutym", **fields}
    if text is not None:
        data["file"] = SimpleUploadedFile("lista.csv", text.encode())
    return client.post(url, data)


def test_staff_check_a_file_confirm_it_and_a_second_confirmation_posts_nothing(
    awards_admin, role_client, partner, people
):
    client = role_client("Programme manager")
    change = client.get(reverse("admin:rewards_partner_change", args=[partner.pk]))
    url = reverse("admin:rewards_partner_award_points", args=[partner.pk])
    assert url in change.content.decode()  # the button on the partner's page

    preview = _upload(client, url, csv_for(people))
    assert preview.status_code == 200
    page = preview.content.decode()
    assert "Award 400 points to 3 members" in page
    assert not LedgerEntry.objects.exists()  # the check posts nothing
    signed = re.search(r'name="plan" value="([^"]+)"', page).group(1)

    done = client.post(url, {"confirm": "1", "plan": signed})
    assert done.context["result"].awarded == 3
    assert [balance(m) for m in people] == [100, 50, 250]
    assert LedgerEntry.objects.get(member=people[0]).actor == client.user

    twice = client.post(url, {"confirm": "1", "plan": signed})  # a double click, or the page reloaded
    assert (twice.context["result"].awarded, twice.context["result"].already) == (0, 3)
    reupload = _upload(client, url, csv_for(people))
    assert "Every member of this list already got this promotion" in reupload.content.decode()
    assert 'name="plan"' not in reupload.content.decode()
    assert [balance(m) for m in people] == [100, 50, 250]


def test_one_member_by_card_number(awards_admin, role_client, partner, people):
    client = role_client("Programme manager")
    url = reverse("admin:rewards_partner_award_points", args=[partner.pk])
    preview = _upload(client, url, None, member=people[1].cards.get().number, points="30")
    assert [line.member for line in preview.context["plan"].new] == [people[1]]
    by_number = _upload(client, url, None, member=people[2].member_number, points="30")
    assert [line.member for line in by_number.context["plan"].new] == [people[2]]


def test_a_file_with_errors_offers_nothing_to_confirm(awards_admin, role_client, partner, people):
    client = role_client("Programme manager")
    url = reverse("admin:rewards_partner_award_points", args=[partner.pk])
    page = _upload(client, url, "email;points\nnikt@example.pl;10\n").content.decode()
    assert "no member has the email nikt@example.pl" in page
    assert 'name="plan"' not in page
    broken = _upload(client, url, "kto;punkty\nx;1\n")
    assert "unknown columns kto, punkty" in broken.content.decode()
    neither = client.post(url, {"promotion": "luty", "reason": "x"})
    assert "Give a file of members or one member." in neither.content.decode()


def test_a_forged_or_foreign_confirmation_is_refused(awards_admin, role_client, partner, people):
    client = role_client("Programme manager")
    url = reverse("admin:rewards_partner_award_points", args=[partner.pk])
    response = client.post(url, {"confirm": "1", "plan": "forged"})
    assert "was not recognised" in response.content.decode()
    other = PartnerFactory(code="inny", name="Inny", email="i@example.pl")
    page = _upload(client, url, csv_for(people)).content.decode()
    signed = re.search(r'name="plan" value="([^"]+)"', page).group(1)
    elsewhere = client.post(
        reverse("admin:rewards_partner_award_points", args=[other.pk]), {"confirm": "1", "plan": signed}
    )
    assert "was not recognised" in elsewhere.content.decode()
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize("role", ["Support", "Marketing", "Analyst", None])
def test_other_roles_may_not_award_and_see_no_button(awards_admin, role_client, partner, role):
    client = role_client(role)
    url = reverse("admin:rewards_partner_award_points", args=[partner.pk])
    assert client.get(url).status_code == 403
    assert client.post(url, {"promotion": "x", "reason": "y", "member": "1", "points": "5"}).status_code == 403
    change = client.get(reverse("admin:rewards_partner_change", args=[partner.pk]))
    assert url not in change.content.decode()


def test_an_inactive_partner_cannot_award(awards_admin, role_client, partner, people):
    Partner.objects.filter(pk=partner.pk).update(is_active=False)
    client = role_client("Programme manager")
    url = reverse("admin:rewards_partner_award_points", args=[partner.pk])
    page = _upload(client, url, csv_for(people)).content.decode()
    assert "is not an active partner" in page
    assert 'name="plan"' not in page


def test_a_list_longer_than_the_limit_is_refused_whole(db, monkeypatch):
    from loyalty_site.files.tabular import FileFormatError
    from rewards import partner_awards

    monkeypatch.setattr(partner_awards, "MAX_ROWS", 2)
    with pytest.raises(FileFormatError, match="more than 2 members"):
        rows("email;points\na@example.pl;1\nb@example.pl;1\nc@example.pl;1\n")
    with pytest.raises(FileFormatError, match="no rows under its header"):
        rows("email;points\n;\n")


def test_a_merged_members_number_awards_the_survivor_and_an_erased_member_is_refused(partner, people, make_member):
    from members.erasure import member_erase
    from rewards.services.merge import members_merge

    duplicate = make_member(email="duplikat@example.pl")
    members_merge(survivor=people[0], duplicate=duplicate, actor=None)
    gone = make_member(email="usuniety@example.pl")
    number = gone.member_number
    member_erase(member=gone, actor=None)
    text = f"member_number;points\n{duplicate.member_number};10\n{number};10\n{people[0].member_number};5\n"
    plan = partner_award_plan(partner=partner, promotion="luty", rows=rows(text))
    merged, erased, survivor = plan.lines
    assert (merged.member, merged.errors) == (people[0], [])
    assert erased.member is None and erased.errors
    assert survivor.errors == ["the same member as line 2: one award per member"]
