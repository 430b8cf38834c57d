"""The member portal: log in and out, the member's home page (balance, tier, latest points) and full history."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.utils.cache import patch_vary_headers
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from members.selectors import portal_member

from .selectors import member_ledger, member_standing, points_expiring

HOME_ENTRIES = 10
HISTORY_PAGE_SIZE = 20
EXPIRING_DAYS = 30


def _no_membership(request: HttpRequest) -> HttpResponse:
    return render(request, "portal/no_membership.html")


def _wants_fragment(request: HttpRequest) -> bool:
    """An HTMX request for a fragment; boosted links and history restores still get the full page."""
    return bool(request.htmx) and not request.htmx.boosted and not request.htmx.history_restore_request


@require_GET
def health(request: HttpRequest) -> HttpResponse:
    return HttpResponse("ok", content_type="text/plain")


login = require_http_methods(["GET", "POST"])(
    auth_views.LoginView.as_view(template_name="registration/login.html", redirect_authenticated_user=True)
)


@method_decorator(require_POST, name="dispatch")
class PortalLogoutView(auth_views.LogoutView):
    """Log out by POST. An HTMX request is sent to the login page with HX-Redirect, not a swapped fragment."""

    def post(self, request, *args, **kwargs):
        response = super().post(request, *args, **kwargs)
        if request.htmx:
            return HttpResponseClientRedirect(resolve_url(settings.LOGOUT_REDIRECT_URL))
        return response


logout = PortalLogoutView.as_view()


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    member = portal_member(request.user)
    if member is None:
        return _no_membership(request)
    context = {
        "member": member,
        "standing": member_standing(member=member),
        "expiring_points": points_expiring(member=member, days=EXPIRING_DAYS),
        "expiring_days": EXPIRING_DAYS,
        "entries": list(member_ledger(member=member)[:HOME_ENTRIES]),
    }
    return render(request, "portal/home.html", context)


@require_GET
@login_required
def history(request: HttpRequest) -> HttpResponse:
    member = portal_member(request.user)
    if member is None:
        return _no_membership(request)
    page = Paginator(member_ledger(member=member), HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"member": member, "page": page}
    template = "rewards/partials/_ledger_rows.html" if _wants_fragment(request) else "portal/history.html"
    response = render(request, template, context)
    # The same URL answers with a fragment or a page: caches must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response
