"""The engagement configuration (active challenges, milestone badges, settings), cached per process beside the
programme's (rewards.config) and valid for the same `config_version`.

Migration engagement 0003 makes every change of a challenge, a badge or the settings give the programme a new
`config_version`, so the version a post has just checked (`rewards.config.programme_config`, the first query of
`purchase_post` and of each batch) also tells whether this copy is current: the hooks read challenges and
badges without a query of their own. A batch keeps the configuration it started with, as it keeps the
programme's rules; a challenge created during a long batch counts from the next one (or "recalculate")."""

from dataclasses import dataclass

from rewards import config as rewards_config

from .models import Badge, Challenge, EngagementSettings


@dataclass(frozen=True)
class EngagementConfig:
    version: int | None
    challenges: tuple[Challenge, ...]  # active, with their tier; filter by kind and period at use
    first_purchase_badges: tuple[int, ...]
    tier_badges: tuple[tuple[int, int], ...]  # (badge id, lowest tier rank)
    settings: EngagementSettings


_cached: dict[str, tuple[int, EngagementConfig]] = {}


def engagement_config() -> EngagementConfig:
    # Checked by the posting path around us, or read now (tasks, the admin, the nightly recalculation).
    return rewards_config.cached_under_version(_cached, _load)


def _load(version: int | None) -> EngagementConfig:
    # Read, never created here: creating it would change the version this copy is filed under.
    settings = EngagementSettings.objects.filter(pk=1).first() or EngagementSettings(pk=1)
    badges = Badge.objects.filter(is_active=True).exclude(milestone="").select_related("tier")
    return EngagementConfig(
        version=version,
        challenges=tuple(Challenge.objects.filter(is_active=True).select_related("tier").order_by("pk")),
        first_purchase_badges=tuple(b.pk for b in badges if b.milestone == Badge.Milestone.FIRST_PURCHASE),
        tier_badges=tuple(
            (b.pk, b.tier.rank) for b in badges if b.milestone == Badge.Milestone.TIER_REACHED and b.tier
        ),
        settings=settings,
    )
