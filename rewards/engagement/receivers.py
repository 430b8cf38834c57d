"""What the engagement app does when the posting paths announce something (loyalty_site.hooks).

Every receiver here works on the whole set it is given (a batch part announces thousands of purchases at once)
and runs inside the transaction that wrote the cause: what it writes commits or rolls back with it, and a path
announces only what it writes anew, so a purchase posted twice counts once."""

from collections.abc import Sequence

from loyalty_site.hooks import receiver
from members.events import MemberJoined
from rewards.events import PurchasePosted, PurchaseRefunded, TierChanged

from . import services


@receiver(PurchasePosted)
def purchases_posted(events: Sequence[PurchasePosted]) -> None:
    services.challenges_progress_purchases(events=events)
    services.referrals_qualify(events=events)
    services.badges_first_purchase(member_ids=sorted({event.member_id for event in events}))


@receiver(PurchaseRefunded)
def purchases_refunded(events: Sequence[PurchaseRefunded]) -> None:
    services.challenges_progress_refunds(purchase_ids=sorted({event.purchase_id for event in events}))


@receiver(MemberJoined)
def members_joined(events: Sequence[MemberJoined]) -> None:
    services.referrals_open(
        pairs=[(event.member_id, event.referred_by_id) for event in events if event.referred_by_id],
    )
    services.challenges_progress_profiles(member_ids=sorted({event.member_id for event in events}))


@receiver(TierChanged)
def tiers_changed(events: Sequence[TierChanged]) -> None:
    services.badges_tier_reached(moves=[(event.member_id, event.to_tier_id) for event in events if event.to_tier_id])
