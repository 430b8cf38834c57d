"""The engagement pages of the member portal: challenges, badges, the leaderboard and refer-a-friend. Each
shows only the logged-in member's own data; a challenge outside their audience is a 404."""

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from members.selectors import portal_member
from members.views import no_membership

from . import selectors
from .forms import LeaderboardProfileForm
from .services import EngagementError, leaderboard_profile_set


def _wants_fragment(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.boosted and not request.htmx.history_restore_request


@require_GET
@login_required
def challenges(request: HttpRequest) -> HttpResponse:
    member = portal_member(request.user)
    if member is None:
        return no_membership(request)
    return render(
        request, "engagement/portal/challenges.html", {"member": member, **selectors.member_challenges(member=member)}
    )


@require_GET
@login_required
def challenge_detail(request: HttpRequest, code: str) -> HttpResponse:
    member = portal_member(request.user)
    if member is None:
        return no_membership(request)
    view = selectors.member_challenge(member=member, code=code)
    if view is None:
        raise Http404
    board = selectors.challenge_leaderboard(challenge=view.challenge, member=member)
    profile = selectors.leaderboard_profile(member=member)
    return render(
        request,
        "engagement/portal/challenge.html",
        {"member": member, "view": view, "board": board, "profile": profile},
    )


@require_GET
@login_required
def badges(request: HttpRequest) -> HttpResponse:
    member = portal_member(request.user)
    if member is None:
        return no_membership(request)
    return render(
        request, "engagement/portal/badges.html", {"member": member, "awards": selectors.member_badges(member=member)}
    )


def _profile_form(member, data=None) -> LeaderboardProfileForm:
    profile = selectors.leaderboard_profile(member=member)
    initial = {"display_name": profile.display_name if profile else "", "opted_in": bool(profile and profile.opted_in)}
    return LeaderboardProfileForm(data=data, initial=initial)


@require_GET
@login_required
def leaderboard(request: HttpRequest) -> HttpResponse:
    member = portal_member(request.user)
    if member is None:
        return no_membership(request)
    context = {
        "member": member,
        "board": selectors.month_leaderboard(member=member),
        "form": _profile_form(member),
        "profile": selectors.leaderboard_profile(member=member),
    }
    return render(request, "engagement/portal/leaderboard.html", context)


@require_POST
@login_required
def leaderboard_profile(request: HttpRequest) -> HttpResponse:
    """Save the display name and the opt-in. HTMX gets the form back; without JavaScript, the page."""
    member = portal_member(request.user)
    if member is None:
        return no_membership(request)
    form = _profile_form(member, data=request.POST)
    saved = False
    if form.is_valid():
        try:
            leaderboard_profile_set(
                member=member, display_name=form.cleaned_data["display_name"], opted_in=form.cleaned_data["opted_in"]
            )
            saved = True
        except EngagementError as exc:
            message = (
                _("Someone already uses this name; pick another one.")
                if str(exc) == "taken"
                else _("Choose a name to be shown under.")
            )
            form.add_error("display_name", message)
    status = 200 if form.is_valid() and saved else 400
    context = {"member": member, "form": form, "saved": saved, "profile": selectors.leaderboard_profile(member=member)}
    if _wants_fragment(request):
        response = render(request, "engagement/partials/_profile_form.html", context, status=status)
    else:
        context["board"] = selectors.month_leaderboard(member=member)
        response = render(request, "engagement/portal/leaderboard.html", context, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_GET
@login_required
def refer(request: HttpRequest) -> HttpResponse:
    member = portal_member(request.user)
    if member is None:
        return no_membership(request)
    from .services import engagement_settings

    context = {
        "member": member,
        "link": selectors.referral_link(member, request),
        "referrals": selectors.member_referrals(member=member),
        "settings": engagement_settings(),
    }
    return render(request, "engagement/portal/refer.html", context)
