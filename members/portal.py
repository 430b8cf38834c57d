"""What members adds to the portal (`loyalty_site.portal`): the home, profile and privacy links, and the home page's
cards for the digital membership card and an unconfirmed email."""

from functools import lru_cache

import segno
from django.http import HttpRequest
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from loyalty_site import portal

from . import data_export  # noqa: F401  registers members' export sections and the background export task
from .models import Member


@lru_cache(maxsize=4096)
def card_qr_svg(number: str, language: str) -> str:
    """The QR code of a card number as inline SVG, labelled in `language` (the active one). Cached per process:
    encoding costs milliseconds of CPU on every dashboard, and a card's code never changes."""
    qr = segno.make(number, error="m", micro=False)
    svg = qr.svg_inline(scale=5, border=2, dark="#111827", light="#ffffff", omitsize=True)
    label = escape(f"{gettext('QR code of the card')} {number}")
    return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)


def membership_card(request: HttpRequest, member: Member) -> dict:
    """The card number (or the member number, for a member without a card) as a QR code to show at the till.

    Drawn as inline SVG (segno): no image request, nothing to cache, and only attributes, which the
    Content-Security-Policy allows."""
    cards = getattr(member, "_portal_active_cards", None)
    if cards is None:
        cards = [card.number for card in member.cards.all() if card.is_active]
    number = cards[0] if cards else member.member_number
    # segno's own SVG markup; the label inside it is escaped.
    return {"card_number": number, "card_qr": mark_safe(card_qr_svg(number, get_language()))}  # noqa: S308


def email_card(request: HttpRequest, member: Member) -> dict | None:
    """A reminder to confirm the email, for members who gave it when joining online (a till's or an import's
    address was given to staff, and a claim by email confirms it)."""
    online = member.join_source in (Member.JoinSource.ONLINE, Member.JoinSource.REFERRAL)
    if not online or not member.email or member.email_verified_at is not None:
        return None
    return {"email": member.email}


portal.nav_entry("home", pgettext_lazy("portal navigation", "Home"), "portal:home", order=10)
portal.nav_entry("profile", _("Profile"), "portal:profile", order=80)
portal.nav_entry("privacy", _("Privacy"), "portal:privacy", order=90)
portal.dashboard_card("verify_email", "members/partials/_card_verify_email.html", email_card, order=1)
portal.dashboard_card("membership_card", "members/partials/_card_membership.html", membership_card, order=15)
