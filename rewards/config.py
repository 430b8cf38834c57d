"""The programme's configuration (settings, active earning rules, tiers), cached per process.

A till posts one purchase at a time and every post needs the whole configuration. Loading it from the
database each time cost three queries and about a third of the post's time, so each process keeps one copy
and checks it with one tiny query: the settings row's `config_version`.

Database triggers (migration `rewards.0007`) give `config_version` a new random value whenever the settings
row, an earning rule or a tier changes, in the same transaction as the change and however it was made
(admin, import, bulk update, raw SQL). A random value, not a counter: a counter goes back when a transaction
rolls back, and the next change would reuse a number some process may have cached with other data; a random
value is never reused, so a process can only hold a copy it must reload, never a stale one it trusts.

The cached model instances are shared by every caller in the process: treat them as read-only.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

from django.db import connection

from .earning import RuleSet
from .models import ProgramSettings, Tier
from .sql.programme import config_version


@dataclass(frozen=True)
class Config:
    version: int | None
    settings: ProgramSettings
    ruleset: RuleSet
    tiers: tuple[Tier, ...]


_cached: dict[str, Config] = {}  # by database alias: tests and tools may use more than one
_checked: ContextVar[bool] = ContextVar("programme_version_checked", default=False)


def programme_config() -> Config:
    """Settings, active earning rules and tiers as of now: one query when nothing changed since last time."""
    version = config_version()
    cached = _cached.get(connection.alias)
    if cached is not None and version is not None and cached.version == version:
        return cached
    # The version is read before the data: a change landing in between makes the copy look older than it
    # is, so it is loaded again next time, never trusted while stale.
    settings = ProgramSettings.objects.get_or_create(pk=1)[0]
    config = Config(
        version=version,
        settings=settings,
        ruleset=RuleSet.from_settings(settings),
        tiers=tuple(Tier.objects.order_by("rank")),
    )
    if version is not None:
        _cached[connection.alias] = config
    return config


@contextmanager
def version_checked() -> Iterator[None]:
    """Around a posting path's announcements (rewards.events). The path read the programme's version with
    `programme_config()` at its start (purchase_post in its transaction, a batch before its first part), so a
    receiver that needs configuration of its own filed under that version (rewards.engagement.config) reuses
    the reading instead of a query per event."""
    token = _checked.set(True)
    try:
        yield
    finally:
        _checked.reset(token)


def version_now() -> int | None:
    """The programme's version for a cache filed under it: the one the posting path around the caller checked
    (`version_checked`), or read now (one tiny query) anywhere else, so a process that posts nothing never
    keeps a stale copy."""
    cached = _cached.get(connection.alias) if _checked.get() else None
    return cached.version if cached is not None else config_version()


T = TypeVar("T")


def cached_under_version(cache: dict[str, tuple[int, T]], load: Callable[[int | None], T]) -> T:
    """An app's own configuration cached per process beside the programme's: `load(version)` again only when
    `version_now()` differs from the version the copy in `cache` (one per module, by database alias) was loaded
    under. The app's tables must renew the version when they change (rewards.sql.programme.config_watched)."""
    version = version_now()
    cached = cache.get(connection.alias)
    if cached is not None and version is not None and cached[0] == version:
        return cached[1]
    loaded = load(version)
    if version is not None:
        cache[connection.alias] = (version, loaded)
    return loaded
