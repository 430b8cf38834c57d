"""Public endpoints of campaigns: one-click unsubscribe, open and click tracking, the inbound SMS webhook."""

import base64
import hmac

from django.conf import settings
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from members.models import ConsentPurpose
from members.selectors import consent_state

from . import sending, services
from .models import Delivery
from .rendering import template_links

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@csrf_exempt  # RFC 8058 one-click: the mail client POSTs with no cookies; the signed token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """GET: a confirmation page, changing nothing (mail scanners follow links). POST: withdraw at once."""
    found = services.unsubscribe_read(token)
    if found is None:
        return render(request, "campaigns/unsubscribe.html", {"invalid": True}, status=404)
    member, channel, _ = found
    if request.method == "POST":
        services.unsubscribe_apply(token=token)
        return render(request, "campaigns/unsubscribe.html", {"done": True, "channel": channel})
    state = consent_state(member=member).get((channel, ConsentPurpose.MARKETING))
    return render(
        request,
        "campaigns/unsubscribe.html",
        {"token": token, "channel": channel, "already": state is None or not state.granted},
    )


def _tracked(token: str) -> Delivery:
    try:
        delivery_id = signing.loads(token, salt=sending.TRACKING_SALT)
    except signing.BadSignature:
        raise Http404 from None
    delivery = Delivery.objects.select_related("template").filter(pk=delivery_id).first()
    if delivery is None:
        raise Http404
    return delivery


@require_GET
def track_open(request: HttpRequest, token: str) -> HttpResponse:
    delivery = _tracked(token)
    services.delivery_track(delivery_id=delivery.pk, clicked=False)
    response = HttpResponse(PIXEL, content_type="image/gif")
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def track_click(request: HttpRequest, token: str, number: int) -> HttpResponse:
    delivery = _tracked(token)
    links = template_links(delivery.template.html if delivery.template else "")
    if number >= len(links):
        raise Http404
    services.delivery_track(delivery_id=delivery.pk, clicked=True)
    return HttpResponseRedirect(links[number])


@csrf_exempt  # called by the SMS gateway, authenticated by the shared token
@require_POST
def sms_inbound(request: HttpRequest) -> HttpResponse:
    """The gateway's webhook for SMS members send us: form or JSON fields `from` and `text`, and the token
    (SMS_INBOUND_TOKEN, else SMS_API_TOKEN) as `?token=` or a bearer header."""
    expected = getattr(settings, "SMS_INBOUND_TOKEN", "") or settings.SMS_API_TOKEN
    given = request.GET.get("token", "") or request.headers.get("Authorization", "").removeprefix("Bearer ")
    if not expected or not hmac.compare_digest(given, expected):
        return JsonResponse({"error": "forbidden"}, status=403)
    data = request.POST
    if request.content_type == "application/json":
        import json

        try:
            data = json.loads(request.body or b"{}")
        except ValueError:
            return JsonResponse({"error": "invalid JSON"}, status=400)
    phone, text = str(data.get("from", "")), str(data.get("text", ""))
    if not phone:
        return JsonResponse({"error": "from is required"}, status=400)
    return JsonResponse({"stopped": services.sms_inbound(phone=phone, text=text)})
