"""The admin's ledger-check banner: shown on every admin page while the latest check found differences."""

from django import template

from rewards.reconciliation import ledger_check_alert

register = template.Library()


@register.inclusion_tag("admin/rewards/_ledger_check_banner.html", takes_context=True)
def ledger_check_banner(context) -> dict:
    request = context.get("request")
    user = getattr(request, "user", None)
    return {"check": ledger_check_alert(user=user) if user is not None else None}
