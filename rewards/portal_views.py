"""The member portal's reward pages: the catalog with filters, a reward with its redeem button (a confirmation
step, then the result swapped in place by htmx), and the member's vouchers with their QR codes.

One URL serves a page and its fragment (`_wants_fragment`); every view declares its methods and shows the
member only their own vouchers (404 otherwise). Redeeming goes through rewards.redemption.reward_redeem.
"""

import uuid
from functools import lru_cache

import segno
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET, require_http_methods

from members.models import Member
from members.selectors import portal_member
from members.views import no_membership

from .catalog import available_q
from .models import Category, PointsAccount, Reward, Voucher
from .redemption import RedemptionRefused, member_redemption_count, reward_redeem, reward_refusal

CATALOG_PAGE_SIZE = 12
PAST_VOUCHERS = 30


def _wants_fragment(request: HttpRequest) -> bool:
    return bool(request.htmx) and not request.htmx.boosted and not request.htmx.history_restore_request


def _render(request, page: str, fragment: str, context: dict, status: int = 200) -> HttpResponse:
    response = render(request, fragment if _wants_fragment(request) else page, context, status=status)
    patch_vary_headers(response, ["HX-Request"])  # the same URL answers with a fragment or a page
    return response


def _balance(member: Member) -> int:
    return PointsAccount.objects.filter(member=member).values_list("balance", flat=True).first() or 0


def _int_or_none(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() and len(value) < 10 else None


@lru_cache(maxsize=4096)
def qr_svg(text: str, *, scale: int = 4) -> str:
    """The code as an inline SVG QR code (segno, made here: no request leaves the page). Kept per process: encoding
    costs milliseconds of CPU for each voucher on every visit of My vouchers, and a voucher's code never changes."""
    return mark_safe(segno.make(text, error="m").svg_inline(scale=scale, dark="#1c2421", light="#fff"))  # noqa: S308


def catalog_rewards(*, member: Member, balance: int, category: str = "", low=None, high=None, affordable=False):
    """What the catalog lists for the member: rewards on offer now, filtered, cheapest first. A tile shows no
    categories, so they are not read (the filter joins them)."""
    rewards = (
        Reward.objects.filter(available_q(timezone.now()))
        .select_related("partner")
        .order_by("points_cost", "name", "pk")
    )
    if category:
        rewards = rewards.filter(categories__code=category)
    if low is not None:
        rewards = rewards.filter(points_cost__gte=low)
    if high is not None:
        rewards = rewards.filter(points_cost__lte=high)
    if affordable:
        rewards = rewards.filter(points_cost__lte=balance)
    return rewards


@require_GET
@login_required
def catalog(request: HttpRequest) -> HttpResponse:
    member = portal_member(request.user)
    if member is None:
        return no_membership(request)
    balance = _balance(member)
    filters = {
        "category": (request.GET.get("category") or "")[:40],
        "low": _int_or_none(request.GET.get("min")),
        "high": _int_or_none(request.GET.get("max")),
        "affordable": request.GET.get("affordable") == "1",
    }
    rewards = catalog_rewards(member=member, balance=balance, **filters)
    page = Paginator(rewards, CATALOG_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "member": member,
        "balance": balance,
        "page": page,
        "categories": Category.objects.filter(rewards__isnull=False).distinct().order_by("position", "name"),
        "filters": filters,
        "query": query.urlencode(),
    }
    return _render(request, "rewards/portal/catalog.html", "rewards/partials/_catalog_list.html", context)


def _reward_for_member(code: str, *, with_categories: bool = False) -> Reward:
    """An active reward by its code, 404 otherwise; its categories read only for the page that shows them."""
    rewards = Reward.objects.select_related("partner", "min_tier")
    if with_categories:
        rewards = rewards.prefetch_related(
            Prefetch("categories", queryset=Category.objects.order_by("position", "name"))
        )
    return get_object_or_404(rewards, code=code, is_active=True)


def _standing(member: Member, reward: Reward) -> tuple[int, tuple[str, str] | None]:
    account = PointsAccount.objects.select_related("tier").filter(member=member).first()
    balance = account.balance if account else 0
    tier_rank = account.tier.rank if account and account.tier else None
    count = member_redemption_count(member_id=member.pk, reward_id=reward.pk) if reward.per_member_limit else 0
    refusal = reward_refusal(
        reward=reward, member=member, balance=balance, tier_rank=tier_rank, count=count, now=timezone.now()
    )
    return balance, refusal


@require_GET
@login_required
def reward_detail(request: HttpRequest, code: str) -> HttpResponse:
    member = portal_member(request.user)
    if member is None:
        return no_membership(request)
    reward = _reward_for_member(code, with_categories=True)
    balance, refusal = _standing(member, reward)
    context = {"member": member, "reward": reward, "balance": balance, "refusal": refusal}
    return render(request, "rewards/portal/catalog_reward.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def reward_redeem_view(request: HttpRequest, code: str) -> HttpResponse:
    """GET: the confirmation (spend N points?). POST: redeem, and show the voucher and the new balance."""
    member = portal_member(request.user)
    if member is None:
        return no_membership(request)
    reward = _reward_for_member(code)
    context = {"member": member, "reward": reward}
    if request.method == "GET":
        balance, refusal = _standing(member, reward)
        context |= {
            "balance": balance,
            "refusal": refusal,
            "after": balance - reward.points_cost,
            "token": uuid.uuid4().hex,
        }
        return _render(
            request, "rewards/portal/catalog_confirm.html", "rewards/partials/_catalog_confirm.html", context
        )
    token = (request.POST.get("token") or "")[:40]
    try:
        redemption = reward_redeem(
            member=member, reward=reward, idempotency_key=f"portal:{member.pk}:{token}" if token else None
        )
    except RedemptionRefused as refused:
        balance = _balance(member)
        context |= {"balance": balance, "refusal": (refused.code, str(refused)), "after": balance - reward.points_cost}
        return _render(
            request, "rewards/portal/catalog_confirm.html", "rewards/partials/_catalog_confirm.html", context
        )
    voucher = redemption.voucher
    context |= {"voucher": voucher, "qr": qr_svg(voucher.code), "balance": _balance(member)}
    return _render(request, "rewards/portal/catalog_result.html", "rewards/partials/_catalog_result.html", context)


@require_GET
@login_required
def vouchers(request: HttpRequest) -> HttpResponse:
    member = portal_member(request.user)
    if member is None:
        return no_membership(request)
    now = timezone.now()
    mine = Voucher.objects.filter(member=member).select_related("reward", "reward__partner")
    active = list(mine.filter(status=Voucher.Status.ISSUED, expires_at__gt=now).order_by("expires_at", "pk"))
    for voucher in active:
        voucher.qr = qr_svg(voucher.code, scale=3)
    past = list(
        mine.exclude(status=Voucher.Status.ISSUED, expires_at__gt=now).order_by("-issued_at", "-pk")[:PAST_VOUCHERS]
    )
    context = {"member": member, "active": active, "past": past, "now": now}
    return render(request, "rewards/portal/vouchers.html", context)


@require_GET
@login_required
def voucher_detail(request: HttpRequest, pk: int) -> HttpResponse:
    member = portal_member(request.user)
    if member is None:
        return no_membership(request)
    voucher = get_object_or_404(Voucher.objects.select_related("reward", "reward__partner"), pk=pk, member=member)
    context = {"member": member, "voucher": voucher, "qr": qr_svg(voucher.code, scale=6) if voucher.is_usable else None}
    return render(request, "rewards/portal/vouchers_detail.html", context)
