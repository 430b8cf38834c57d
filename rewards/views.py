"""The points pages of the member portal: the history of points (filters, more rows as the member scrolls) and a
purchase's lines with the rules that earned its points (the home page's points cards are in `rewards.portal`)."""

from datetime import date, datetime, time, timedelta

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from members.models import Purchase
from members.selectors import portal_member
from members.views import no_membership

from .models import LedgerEntry, PointsLot
from .selectors import member_ledger

HISTORY_PAGE_SIZE = 20

# The history's type filter: a name in the URL, its label, the ledger kinds it shows.
HISTORY_TYPES = {
    "purchases": (_("Purchases"), None),
    "earned": (_("Points earned"), ("earn", "bonus")),
    "spent": (_("Points spent"), ("redeem",)),
    "expired": (_("Expired"), ("expire",)),
    "corrections": (_("Returns and corrections"), ("adjust", "reverse", "transfer")),
}


def _wants_fragment(request: HttpRequest) -> bool:
    """An HTMX request for a fragment; boosted links and history restores still get the full page."""
    return bool(request.htmx) and not request.htmx.boosted and not request.htmx.history_restore_request


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _filters(request: HttpRequest) -> dict:
    kind = request.GET.get("type", "")
    since, until = _day(request.GET.get("from", "")), _day(request.GET.get("to", ""))
    if since and until and since > until:
        since, until = until, since
    return {"type": kind if kind in HISTORY_TYPES else "", "from": since, "to": until}


def _filtered(entries, filters: dict):
    if filters["type"] == "purchases":
        entries = entries.filter(purchase__isnull=False)
    elif filters["type"]:
        entries = entries.filter(kind__in=HISTORY_TYPES[filters["type"]][1])
    zone = timezone.get_current_timezone()
    if filters["from"]:
        entries = entries.filter(created_at__gte=datetime.combine(filters["from"], time.min, tzinfo=zone))
    if filters["to"]:
        entries = entries.filter(
            created_at__lt=datetime.combine(filters["to"] + timedelta(days=1), time.min, tzinfo=zone)
        )
    return entries


def _expired_lots(entries: list[LedgerEntry]) -> None:
    """Tell each expiry which points it took: the lot (`lot:<id>` in the entry's reference) and the credit that
    opened it, with its purchase. One query per page."""
    lot_ids = {}
    for entry in entries:
        if entry.kind == LedgerEntry.Kind.EXPIRE and entry.reference.startswith("lot:"):
            try:
                lot_ids[entry.pk] = int(entry.reference[4:])
            except ValueError:
                continue
    lots = {}
    if lot_ids:
        lots = {
            lot.pk: lot
            for lot in PointsLot.objects.filter(pk__in=set(lot_ids.values()), member_id=entries[0].member_id)
            .select_related("entry__purchase")
            .only("pk", "points", "earned_at", "entry__kind", "entry__purchase__external_id", "entry__created_at")
        }
    for entry in entries:
        entry.expired_lot = lots.get(lot_ids.get(entry.pk))


@require_GET
@login_required
def history(request: HttpRequest) -> HttpResponse:
    member = portal_member(request.user)
    if member is None:
        return no_membership(request)
    filters = _filters(request)
    entries = _filtered(member_ledger(member=member), filters)
    page = Paginator(entries, HISTORY_PAGE_SIZE).get_page(request.GET.get("page"))
    rows = list(page.object_list)
    _expired_lots(rows)
    query = {
        key: value
        for key, value in (("type", filters["type"]), ("from", filters["from"]), ("to", filters["to"]))
        if value
    }
    next_query = urlencode({**query, "page": page.next_page_number()}) if page.has_next() else ""
    context = {
        "member": member,
        "page": page,
        "entries": rows,
        "filters": filters,
        "types": [(name, label) for name, (label, _kinds) in HISTORY_TYPES.items()],
        "next_query": next_query,
        "filtered": bool(query),
    }
    template = "rewards/partials/_ledger_rows.html" if _wants_fragment(request) else "rewards/portal/history.html"
    response = render(request, template, context)
    # The same URL answers with a fragment or a page: caches must keep them apart.
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
def purchase_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A purchase's lines and the points it earned, rule by rule. Someone else's purchase is 404 whatever the
    method, so the method check comes after the lookup: a 405 would tell that the purchase exists."""
    member = portal_member(request.user)
    if member is None:
        return no_membership(request)
    purchase = get_object_or_404(Purchase, pk=pk, member=member)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    context = {
        "member": member,
        "purchase": purchase,
        "lines": list(purchase.lines.order_by("id")),
        "entries": list(LedgerEntry.objects.filter(member=member, purchase=purchase).order_by("created_at", "id")),
    }
    template = (
        "rewards/partials/_history_purchase.html"
        if _wants_fragment(request)
        else "rewards/portal/history_purchase.html"
    )
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response
