"""The points pages of the member portal: the full history of points, a page at a time (the home page's points
cards are in `rewards.portal`)."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET

from members.selectors import portal_member
from members.views import no_membership

from .selectors import member_ledger

HISTORY_PAGE_SIZE = 20


def _wants_fragment(request: HttpRequest) -> bool:
    """An HTMX request for a fragment; boosted links and history restores still get the full page."""
    return bool(request.htmx) and not request.htmx.boosted and not request.htmx.history_restore_request


@require_GET
@login_required
def history(request: HttpRequest) -> HttpResponse:
    member = portal_member(request.user)
    if member is None:
        return no_membership(request)
    page = Paginator(member_ledger(member=member), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"member": member, "page": page}
    template = "rewards/partials/_ledger_rows.html" if _wants_fragment(request) else "rewards/portal/history.html"
    response = render(request, template, context)
    # The same URL answers with a fragment or a page: caches must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response
