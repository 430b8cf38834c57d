"""The lockout answer (AXES_LOCKOUT_CALLABLE): the login page it replaces, with a message and HTTP 429."""

from axes.helpers import get_cool_off
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.translation import ngettext

from .backends import REFUSED_WHILE_LOCKED


def cool_off_minutes(request: HttpRequest | None = None) -> int:
    return max(1, round(get_cool_off(request).total_seconds() / 60))


def lockout_message(*, minutes: int, staff: bool) -> str:
    """The same words whether or not the account exists: a lockout never tells which usernames are real."""
    if staff:
        text = ngettext(
            "Too many failed attempts. Try again in %(minutes)d minute or ask an administrator to unlock your account.",
            "Too many failed attempts. Try again in %(minutes)d minutes or ask an administrator to unlock your "
            "account.",
            minutes,
        )
    else:
        text = ngettext(
            "Too many failed attempts. Try again in %(minutes)d minute or ask staff to unlock your account.",
            "Too many failed attempts. Try again in %(minutes)d minutes or ask staff to unlock your account.",
            minutes,
        )
    return text % {"minutes": minutes}


def _is_admin_login(request: HttpRequest) -> bool:
    return request.path.startswith(reverse("admin:index"))


def lockout_response(request: HttpRequest, original_response: HttpResponse, credentials: dict | None = None):
    """Called by axes's middleware for a login that failed while locked out, or whose failure set the lockout.

    The failure that reaches the limit keeps its usual "wrong username or password" answer: the limit counts
    failures answered as such, and the next attempt, whatever its password, gets the lockout page.
    """
    if not getattr(request, REFUSED_WHILE_LOCKED, False):
        return original_response
    minutes = cool_off_minutes(request)
    message = lockout_message(minutes=minutes, staff=_is_admin_login(request))
    status = settings.AXES_HTTP_RESPONSE_CODE
    context = getattr(original_response, "context_data", None)
    if isinstance(original_response, TemplateResponse) and context and "form" in context:
        form = context["form"]
        # A fresh form without the "wrong username or password" error, keeping the username typed.
        username = getattr(form, "cleaned_data", {}).get("username", "")
        context = {**context, "form": type(form)(request, initial={"username": username}), "lockout_message": message}
        response = TemplateResponse(request, original_response.template_name, context, status=status).render()
    else:
        response = HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(minutes * 60)
    return response
