"""What engagement adds to a member's copy of their data (members.data_export), and what it scrubs on erasure.

Export: challenges taken part in (progress, completion), badges, referrals (as referrer or referee, without the
other person's data beyond their member number's absence: only the role and the outcome) and the leaderboard
profile. Erasure (members.events.MemberErased, in the erasure's transaction): the leaderboard profile, the only
thing here a member wrote about themselves (a display name), is deleted; progress, completions, badges and
referrals hold ids and codes only, and stay so the points they gave still add up."""

from collections.abc import Sequence

from loyalty_site.hooks import receiver
from members.data_export import register_section
from members.events import MemberErased
from members.models import Member

from .models import BadgeAward, ChallengeCompletion, ChallengeProgress, LeaderboardProfile, Referral


def challenge_rows(member: Member) -> list[dict]:
    completions = {
        row["challenge_id"]: row["completed_at"]
        for row in ChallengeCompletion.objects.filter(member=member).values("challenge_id", "completed_at")
    }
    rows = []
    seen = set()
    for progress in ChallengeProgress.objects.filter(member=member).select_related("challenge").order_by("id"):
        seen.add(progress.challenge_id)
        rows.append(
            {
                "challenge_code": progress.challenge.code,
                "challenge": progress.challenge.name,
                "progress": progress.value,
                "target": progress.challenge.target,
                "completed_at": completions.get(progress.challenge_id),
            }
        )
    for completion in (
        ChallengeCompletion.objects.filter(member=member).exclude(challenge_id__in=seen).select_related("challenge")
    ):
        rows.append(
            {
                "challenge_code": completion.challenge.code,
                "challenge": completion.challenge.name,
                "progress": completion.challenge.target,
                "target": completion.challenge.target,
                "completed_at": completion.completed_at,
            }
        )
    return rows


def badge_rows(member: Member) -> list[dict]:
    return [
        {"badge_code": award.badge.code, "badge": award.badge.name, "awarded_at": award.awarded_at}
        for award in BadgeAward.objects.filter(member=member).select_related("badge").order_by("awarded_at", "id")
    ]


def referral_rows(member: Member) -> list[dict]:
    """The member's referrals: whom they invited is another person, so only the role, status and dates."""
    rows = []
    for referral in Referral.objects.filter(referrer=member).order_by("created_at", "id"):
        rows.append(
            {
                "role": "referrer",
                "status": referral.status,
                "refusal": referral.refusal,
                "created_at": referral.created_at,
                "decided_at": referral.decided_at,
            }
        )
    for referral in Referral.objects.filter(referee=member):
        rows.append(
            {
                "role": "referee",
                "status": referral.status,
                "refusal": referral.refusal,
                "created_at": referral.created_at,
                "decided_at": referral.decided_at,
            }
        )
    return rows


def leaderboard_rows(member: Member) -> list[dict]:
    return list(LeaderboardProfile.objects.filter(member=member).values("display_name", "opted_in", "updated_at"))


register_section("challenges", challenge_rows)
register_section("badges", badge_rows)
register_section("referrals", referral_rows)
register_section("leaderboard_profile", leaderboard_rows)


@receiver(MemberErased)
def erase_engagement(events: Sequence[MemberErased]) -> None:
    LeaderboardProfile.objects.filter(member_id__in=[event.member_id for event in events]).delete()
