"""Who a challenge is for, beyond "everyone" and "a tier": a registry of audience kinds other apps fill.

App dependencies run one way (campaigns imports rewards, never the reverse), so campaigns registers its
segments here instead of rewards importing campaigns:

    audiences.register("segment", label=_("Segment"), choices=segment_choices, members=segment_members)

A challenge stores the kind's code and a reference within it (`audience_kind`, `audience_ref`, codes and not
sentences); `members(ref)` gives the queryset of members.Member in that audience.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet


@dataclass(frozen=True)
class AudienceKind:
    code: str
    label: str  # a lazy translation
    choices: Callable[[], list[tuple[str, str]]]  # (ref, label) pairs staff pick from
    members: Callable[[str], QuerySet]  # ref -> queryset of members.Member


_kinds: dict[str, AudienceKind] = {}


def register(
    code: str,
    *,
    label,
    choices: Callable[[], list[tuple[str, str]]],
    members: Callable[[str], QuerySet],
) -> AudienceKind:
    """Register (or replace) the audience kind `code`."""
    kind = AudienceKind(code=code, label=label, choices=choices, members=members)
    _kinds[code] = kind
    return kind


def unregister(code: str) -> None:
    _kinds.pop(code, None)


def kinds() -> list[AudienceKind]:
    return sorted(_kinds.values(), key=lambda kind: kind.code)


def get(code: str) -> AudienceKind | None:
    return _kinds.get(code)


def members(code: str, ref: str) -> QuerySet | None:
    """The members of an audience, or None when no app registers the kind (nobody is in it)."""
    kind = _kinds.get(code)
    return None if kind is None else kind.members(ref)
