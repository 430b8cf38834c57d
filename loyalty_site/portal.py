"""The member portal's registry: navigation entries and dashboard cards that apps add, drawn by the site's pages.

Each app owns its portal pages (views, urls, templates) and registers what should appear elsewhere: a link in
the header (`nav_entry`) or a card on the home page (`dashboard_card`). So an app higher up (campaigns'
surveys, say) shows on a page a lower app draws (the home page is members') without that app importing
upward. The module knows no domain model: a card's context function gets the request and whatever the page
passes as `member` (the portal's `members.Member`), and returns the card template's context, or None when the
card has nothing to show for this member.

Apps register from their `portal.py`, imported once at start-up (from the app's `urls.py`, which the site's
URLconf imports before any page is drawn). Registering a name again replaces the entry, so a second import
changes nothing. `order` sorts entries and cards (ties by name); leave gaps (10, 20, 30) so others fit in
between.

Templates read the registry through the `portal` tag library (`{% load portal %}`): `{% portal_nav_entries
as entries %}` for the header, `{% dashboard_card card %}` to draw one card of the list `dashboard(...)`
returned to the page's view.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django import template
from django.http import HttpRequest

CardContext = Callable[[HttpRequest, Any], Mapping[str, Any] | None]


@dataclass(frozen=True)
class NavEntry:
    """A link in the portal's header, shown to logged-in users."""

    name: str
    label: str  # a lazy translation: evaluated when drawn, in the request's language
    url_name: str  # reversed without arguments, e.g. "portal:history"
    order: int


@dataclass(frozen=True)
class DashboardCard:
    """A card on the portal's home page: a template and the function that gives it its context."""

    name: str
    template: str
    context_function: CardContext
    order: int


@dataclass(frozen=True)
class BoundCard:
    """A card with its context for one request: what the home page's template draws."""

    name: str
    template: str
    context: Mapping[str, Any]


_nav_entries: dict[str, NavEntry] = {}
_dashboard_cards: dict[str, DashboardCard] = {}


def nav_entry(name: str, label: str, url_name: str, order: int) -> NavEntry:
    """Register (or replace) the header link `name`."""
    entry = NavEntry(name=name, label=label, url_name=url_name, order=order)
    _nav_entries[name] = entry
    return entry


def dashboard_card(name: str, template: str, context_function: CardContext, order: int) -> DashboardCard:
    """Register (or replace) the home page card `name`: `context_function(request, member)` returns the context
    of `template`, or None to leave the card out. It runs in the home page's view, before anything is drawn,
    so its queries count against the page (tests pin them)."""
    card = DashboardCard(name=name, template=template, context_function=context_function, order=order)
    _dashboard_cards[name] = card
    return card


def nav_entry_remove(name: str) -> None:
    _nav_entries.pop(name, None)


def dashboard_card_remove(name: str) -> None:
    _dashboard_cards.pop(name, None)


def nav_entries() -> list[NavEntry]:
    return sorted(_nav_entries.values(), key=lambda entry: (entry.order, entry.name))


def dashboard_cards() -> list[DashboardCard]:
    return sorted(_dashboard_cards.values(), key=lambda card: (card.order, card.name))


def dashboard(request: HttpRequest, member: Any) -> list[BoundCard]:
    """The home page's cards for this member, in order, each with its context; cards with nothing to show are
    left out."""
    bound = []
    for card in dashboard_cards():
        context = card.context_function(request, member)
        if context is not None:
            bound.append(BoundCard(name=card.name, template=card.template, context=context))
    return bound


# The `portal` template tag library. Django finds libraries only inside installed apps, and this module is not
# one, so `members/templatetags/portal.py` re-exports `register` (see that module).
register = template.Library()


@register.simple_tag
def portal_nav_entries() -> list[NavEntry]:
    return nav_entries()


@register.simple_tag(takes_context=True, name="dashboard_card")
def render_dashboard_card(context: template.Context, card: BoundCard) -> str:
    """Draw a bound card with the page's context (request, user, csrf_token) and the card's own on top."""
    card_template = context.template.engine.get_template(card.template)
    with context.push(card.context):
        return card_template.render(context)
