"""The portal's composition (loyalty_site.portal, loyalty_site.urls): an app adds a navigation entry and a dashboard
card without the portal's code changing; every URL keeps its path under the one `portal` namespace."""

import pytest
from django.urls import resolve, reverse

from loyalty_site import portal

pytestmark = pytest.mark.usefixtures("polish_portal")

SURVEY_CARD = "tests/portal/_survey_card.html"


@pytest.fixture
def survey_card_template(settings, tmp_path):
    """A card template of the pretend app, in a template folder of its own."""
    folder = tmp_path / "templates"
    (folder / "tests" / "portal").mkdir(parents=True)
    (folder / SURVEY_CARD).write_text(
        '{% load i18n %}<section class="card survey" data-testid="survey">'
        "{% blocktranslate %}Ankieta dla {{ first_name }}: {{ questions }} pytania{% endblocktranslate %}"
        " ({{ user.get_username }})</section>"
    )
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [*settings.TEMPLATES[0]["DIRS"], folder]}]
    return SURVEY_CARD


@pytest.fixture
def survey_app(survey_card_template):
    """What an app above rewards (campaigns' surveys, say) would put in its portal.py, removed afterwards."""

    def survey_context(request, member):
        if member.first_name == "Bez ankiety":
            return None
        return {"first_name": member.first_name, "questions": 3}

    portal.nav_entry("surveys", "Ankiety", "portal:history", order=15)  # any named URL will do for the link
    portal.dashboard_card("survey", survey_card_template, survey_context, order=25)
    try:
        yield
    finally:
        portal.nav_entry_remove("surveys")
        portal.dashboard_card_remove("survey")


def test_an_app_registers_a_card_and_a_nav_entry_and_home_shows_them(client, make_member, program, tiers, survey_app):
    member = make_member(login=True, first_name="Ewa")
    client.force_login(member.user)
    response = client.get(reverse("portal:home"))
    assert response.status_code == 200
    assert [card.name for card in response.context["cards"]] == [
        "balance",
        "membership_card",
        "tier",
        "survey",
        "recent",
    ]
    html = response.content.decode()
    # The card draws with its own context and the page's (the user), between the tier and the latest entries.
    assert f'data-testid="survey">Ankieta dla Ewa: 3 pytania ({member.user.username})</section>' in html
    assert html.index('class="card tier"') < html.index('class="card survey"') < html.index('class="card recent"')
    # The link sits in the header between Start and Historia, on every portal page.
    nav = html[html.index('class="site-nav"') : html.index("</nav>")]
    assert nav.index(">Start<") < nav.index(">Ankiety<") < nav.index(">Historia<")
    assert ">Ankiety<" in client.get(reverse("portal:history")).content.decode()


def test_a_card_whose_context_is_none_is_left_out(client, make_member, program, tiers, survey_app):
    member = make_member(login=True, first_name="Bez ankiety")
    client.force_login(member.user)
    response = client.get(reverse("portal:home"))
    assert "survey" not in [card.name for card in response.context["cards"]]
    assert 'class="card survey"' not in response.content.decode()


def test_after_removal_the_card_and_the_entry_are_gone(client, make_member, program, tiers, survey_card_template):
    portal.nav_entry("surveys", "Ankiety", "portal:history", order=15)
    portal.dashboard_card("survey", survey_card_template, lambda request, member: {}, order=25)
    portal.nav_entry_remove("surveys")
    portal.dashboard_card_remove("survey")
    member = make_member(login=True)
    client.force_login(member.user)
    html = client.get(reverse("portal:home")).content.decode()
    assert "Ankiety" not in html and 'class="card survey"' not in html


def test_registering_a_name_again_replaces_it():
    before = portal.nav_entries()
    history = next(entry for entry in before if entry.name == "history")
    try:
        portal.nav_entry("history", "Punkty", "portal:history", order=history.order)
        assert [entry.label for entry in portal.nav_entries() if entry.name == "history"] == ["Punkty"]
        assert len(portal.nav_entries()) == len(before)
    finally:
        portal.nav_entry(history.name, history.label, history.url_name, history.order)


def test_the_apps_register_the_portal_as_before():
    entries = [(entry.name, entry.url_name) for entry in portal.nav_entries()]
    # Home and history first; every app's own pages after them (each app registers its own).
    assert entries[:2] == [("home", "portal:home"), ("history", "portal:history")]
    for expected in [
        ("profile", "portal:profile"),
        ("privacy", "portal:privacy"),
        ("catalog", "portal:catalog"),
        ("vouchers", "portal:vouchers"),
    ]:
        assert expected in entries
    cards = [card.name for card in portal.dashboard_cards()]
    for expected in ["verify_email", "balance", "membership_card", "tier", "recommended", "recent"]:
        assert expected in cards
    assert cards.index("balance") < cards.index("tier") < cards.index("recent")


@pytest.mark.parametrize(
    ("name", "path", "module"),
    [
        ("portal:home", "/", "members.views"),
        ("portal:login", "/logowanie/", "members.views"),
        ("portal:logout", "/wyloguj/", "members.views"),
        ("portal:history", "/historia/", "rewards.views"),
        ("portal:catalog", "/nagrody/", "rewards.portal_views"),
        ("portal:vouchers", "/kupony/", "rewards.portal_views"),
        ("portal:health", "/healthz", "loyalty_site.views"),
    ],
)
def test_each_portal_url_keeps_its_path_and_is_served_by_its_app(name, path, module):
    assert reverse(name) == path
    match = resolve(path)
    assert match.namespace == "portal" and match.func.__module__ == module


def test_health_endpoint_answers_ok_without_login(client, db):
    response = client.get(reverse("portal:health"))
    assert response.status_code == 200 and response.content == b"ok"
    assert client.post(reverse("portal:health")).status_code == 405
