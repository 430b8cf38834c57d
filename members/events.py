"""What the members app announces (loyalty_site.hooks). Subscribers live in the apps above it."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class MemberJoined:
    """A member enrolled, once, whichever way they joined (admin, import, sign-up, API).

    `welcome` is False for members brought in from another system's history (an import whose staff did not
    tick "award the joining bonus"): they joined long ago, so no joining bonus and no welcome message."""

    member_id: int
    joined_at: datetime
    join_source: str
    referred_by_id: int | None
    welcome: bool


@dataclass(frozen=True, slots=True)
class MemberErased:
    """A member's personal data was erased at their request (GDPR art. 17), once (members.erasure).

    Announced inside the erasure's transaction: receivers in other apps scrub what they hold about the member
    (a campaign's delivery addresses, a referral's invited email) in the same transaction. The member row, its
    ledger and its purchases' amounts stay, so the programme's totals still add up."""

    member_id: int
    erased_at: datetime
