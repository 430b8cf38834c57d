"""The member portal's account pages: log in and out, the home page that draws the apps' dashboard cards, and the
page for a login without membership (which other apps' portal pages show too)."""

from functools import lru_cache

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.staticfiles import finders
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.utils.decorators import method_decorator
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from loyalty_site import portal

from .accounts.forms import LoginForm
from .accounts.language import with_language
from .selectors import portal_member


def no_membership(request: HttpRequest) -> HttpResponse:
    """What a portal page answers to a login with no member behind it (staff, an erased or merged member)."""
    return render(request, "members/portal/no_membership.html")


@method_decorator(require_http_methods(["GET", "POST"]), name="dispatch")
class PortalLoginView(auth_views.LoginView):
    """Django's login, which passes the request to authenticate() as login throttling (django-axes) needs. The
    name typed may be an email, a phone, or a card or member number (members.accounts.backends). The member's
    preferred language becomes the portal's language."""

    template_name = "registration/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def form_valid(self, form):
        response = super().form_valid(form)
        member = portal_member(form.get_user())
        if member is not None:
            with_language(response, member.preferred_language)
        return response


login = PortalLoginView.as_view()


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
    """The member's greeting and the dashboard cards the apps registered (`loyalty_site.portal`)."""
    member = portal_member(request.user)
    if member is None:
        return no_membership(request)
    context = {"member": member, "cards": portal.dashboard(request, member)}
    return render(request, "members/portal/home.html", context)


@lru_cache(maxsize=1)
def _favicon_bytes() -> bytes:
    path = finders.find("img/favicon.ico")
    with open(path, "rb") as handle:
        return handle.read()


@require_GET
@cache_control(public=True, max_age=86400)
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers ask for on pages that name no icon (the admin's, a PDF, an error page): the
    static favicon, served here so that it is never a 404 whether or not a web server serves /static/."""
    return HttpResponse(_favicon_bytes(), content_type="image/x-icon")
