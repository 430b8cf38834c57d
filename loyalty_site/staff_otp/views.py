"""The second-factor pages: enter a code, set up an app (QR code), see new recovery codes once."""

import base64

import django_otp
import segno
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth.views import redirect_to_login
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.http import require_http_methods

from . import services
from .forms import TokenForm


def _next_url(request, site) -> str:
    target = request.POST.get(REDIRECT_FIELD_NAME) or request.GET.get(REDIRECT_FIELD_NAME, "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse(f"{site.name}:index")


def _staff_signed_in(request) -> bool:
    return request.user.is_authenticated and request.user.is_active and request.user.is_staff


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def verify(request, site):
    if not _staff_signed_in(request):
        return redirect_to_login(request.get_full_path(), reverse(f"{site.name}:login"))
    if not services.has_confirmed_totp(user=request.user):
        return HttpResponseRedirect(reverse(f"{site.name}:otp_setup"))
    if request.user.is_verified():
        return HttpResponseRedirect(_next_url(request, site))
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        throttled = _throttled(request.user)
        device = None if throttled else django_otp.match_token(request.user, form.cleaned_data["token"])
        if device is not None:
            django_otp.login(request, device)
            return HttpResponseRedirect(_next_url(request, site))
        form.add_error("token", _wrong_code_message(throttled))
    context = {**site.each_context(request), "form": form, "title": _("Second factor")}
    return TemplateResponse(request, "admin/staff_otp/verify.html", context)


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def setup(request, site):
    if not _staff_signed_in(request):
        return redirect_to_login(request.get_full_path(), reverse(f"{site.name}:login"))
    # Replacing a confirmed app needs the second factor first, or a stolen password would re-enrol.
    if services.has_confirmed_totp(user=request.user) and not request.user.is_verified():
        return HttpResponseRedirect(reverse(f"{site.name}:otp_verify"))
    device = services.totp_device_pending(user=request.user)
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        throttled = _throttled(request.user)
        codes = None if throttled else services.totp_device_confirm(device=device, token=form.cleaned_data["token"])
        if codes is not None:
            django_otp.login(request, device)
            context = {**site.each_context(request), "codes": codes, "title": _("Your recovery codes")}
            return TemplateResponse(request, "admin/staff_otp/recovery_codes.html", context)
        form.add_error("token", _wrong_code_message(throttled))
    qr = segno.make(device.config_url, error="m").svg_inline(scale=4, omitsize=False)
    context = {
        **site.each_context(request),
        "form": form,
        "qr_svg": mark_safe(qr),  # noqa: S308 segno draws paths only; the URL is encoded, never written as text
        "secret": _base32(device),
        "title": _("Set up a second factor"),
    }
    return TemplateResponse(request, "admin/staff_otp/setup.html", context)


def _throttled(user) -> bool:
    # django-otp doubles the wait after each wrong code (ThrottlingMixin); a try during the wait is refused.
    return any(not device.verify_is_allowed()[0] for device in django_otp.devices_for_user(user, confirmed=None))


def _wrong_code_message(throttled: bool) -> str:
    if throttled:
        return _("Too many wrong codes. Wait a few seconds, then enter the newest code from your app.")
    return _("This code is not valid. Enter the current code from your app, or a recovery code.")


def _base32(device) -> str:
    key = base64.b32encode(device.bin_key).decode().rstrip("=")
    return " ".join(key[i : i + 4] for i in range(0, len(key), 4))


@never_cache
@csrf_protect
@require_http_methods(["GET", "POST"])
def recovery_codes(request, site):
    codes = services.recovery_codes_issue(user=request.user) if request.method == "POST" else None
    context = {**site.each_context(request), "codes": codes, "title": _("Your recovery codes")}
    return TemplateResponse(request, "admin/staff_otp/recovery_codes.html", context)
