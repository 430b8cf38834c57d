"""What other apps add to a member's admin page: panels (a box of figures under the form) and object tools
(buttons at the top), without members importing them.

rewards adds "redeem for this member", analytics adds the member's RFM segment and churn risk: each registers
from its own admin module (imported by Django's admin autodiscovery) with

    admin_panels.panel("rfm", _("Customer value"), "analytics/admin/_member_rfm.html", rfm_context, order=40)
    admin_panels.tool("redeem", _("Redeem a reward"), redeem_url, order=20)

A panel's context function gets the request and the member and returns the template's context, or None to
hide the panel (no data, or no permission: check `request.user.has_perm(...)` there). A panel of figures needs
no template of its own: use "admin/members/member/_panel_figures.html" with {"figures": [(label, value), ...]}.
A tool's URL function returns the URL, or None to hide the button. Registering a name again replaces the entry.

A purchase's admin page has panels the same way (rewards shows the points the purchase earned, the rules
applied and what its refunds reversed):

    admin_panels.purchase_panel("points", _("Points"), "admin/rewards/_purchase_points.html", context, order=10)

with a context function of (request, purchase).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest


@dataclass(frozen=True)
class Panel:
    name: str
    title: Any  # a lazy translation
    template: str
    context_function: Callable[[HttpRequest, Any], Mapping[str, Any] | None]
    order: int


@dataclass(frozen=True)
class Tool:
    name: str
    label: Any  # a lazy translation
    url_function: Callable[[HttpRequest, Any], str | None]
    order: int


@dataclass(frozen=True)
class BoundPanel:
    name: str
    title: Any
    template: str
    context: Mapping[str, Any]


_panels: dict[str, Panel] = {}
_tools: dict[str, Tool] = {}
_purchase_panels: dict[str, Panel] = {}


def panel(name: str, title, template: str, context_function, *, order: int) -> None:
    _panels[name] = Panel(name, title, template, context_function, order)


def tool(name: str, label, url_function, *, order: int) -> None:
    _tools[name] = Tool(name, label, url_function, order)


def purchase_panel(name: str, title, template: str, context_function, *, order: int) -> None:
    """A panel on a purchase's admin page: context_function(request, purchase) -> context or None."""
    _purchase_panels[name] = Panel(name, title, template, context_function, order)


def _bound(panels: dict[str, Panel], request: HttpRequest, obj) -> list[BoundPanel]:
    bound = []
    for entry in sorted(panels.values(), key=lambda p: (p.order, p.name)):
        context = entry.context_function(request, obj)
        if context is not None:
            bound.append(BoundPanel(entry.name, entry.title, entry.template, context))
    return bound


def bound_panels(request: HttpRequest, member) -> list[BoundPanel]:
    return _bound(_panels, request, member)


def bound_purchase_panels(request: HttpRequest, purchase) -> list[BoundPanel]:
    return _bound(_purchase_panels, request, purchase)


def bound_tools(request: HttpRequest, member) -> list[tuple[Any, str]]:
    tools = []
    for entry in sorted(_tools.values(), key=lambda t: (t.order, t.name)):
        url = entry.url_function(request, member)
        if url:
            tools.append((entry.label, url))
    return tools
