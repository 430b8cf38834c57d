"""Periodic engagement jobs; each calls one service and is safe to run twice."""

from celery import shared_task

from . import services


@shared_task(acks_late=True)
def birthday_bonuses_task() -> int:
    """Daily: the birthday bonus, once per member and year (the ledger key makes a second run a no-op)."""
    return services.birthday_bonuses_award()


@shared_task(acks_late=True)
def engagement_daily_task() -> dict:
    """Daily: 'one year in the programme' badges and the 'complete the profile' challenges (profile edits
    announce nothing, so they are caught up here)."""
    return {
        "one_year_badges": services.badges_one_year(),
        "profile_completions": services.challenges_progress_profiles(),
    }
