"""Demo steps other apps add: each app fills its own part of the demo after the core data exists.

`demo_seed` creates the programme, members, purchases, refunds, expiry and logins, then runs every registered
step in `order` (ties by name). An app registers from its own `demo.py`, imported by its AppConfig.ready(), so
the demo command never imports an app's models to seed them and a new app adds its demo without editing the
command. A step gets a `DemoContext` and must be deterministic for a seed and a day, like the rest of the demo.

`skipped("name", ...)` leaves steps out of a demo seeded inside it, e.g. a test that needs the data of some apps
only (a migration test seeding the demo as an older schema knew it).
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class DemoContext:
    """What a step may use: the seed, the day the history ends, the showcase member and the command's log."""

    seed: int
    now: datetime
    start: datetime
    showcase_member_id: int
    log: Callable[[str], None]
    progress: Callable[[str], None]
    # Steps may leave notes for later steps (e.g. "campaigns" reading the rewards step's voucher ids).
    shared: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DemoStep:
    name: str
    function: Callable[[DemoContext], None]
    order: int


_steps: dict[str, DemoStep] = {}
_skipped: frozenset[str] = frozenset()


def register(name: str, function: Callable[[DemoContext], None], *, order: int) -> None:
    """Add (or replace) the step `name`; `order` sorts the steps, leave gaps (10, 20, 30)."""
    _steps[name] = DemoStep(name=name, function=function, order=order)


def steps() -> list[DemoStep]:
    """The steps run_all() runs, in order: every registered step but those skipped()."""
    return sorted((s for s in _steps.values() if s.name not in _skipped), key=lambda step: (step.order, step.name))


@contextmanager
def skipped(*names: str) -> Iterator[None]:
    """Leave the steps `names` out of steps() and run_all() (so out of `demo_seed`) inside the block; they are back
    after it. A name no step was registered under is refused (ValueError): a misspelt name would skip nothing."""
    global _skipped
    unknown = sorted(set(names) - _steps.keys())
    if unknown:
        raise ValueError(f"No demo step is registered as {', '.join(map(repr, unknown))}; known: {sorted(_steps)}")
    before = _skipped
    _skipped = before | frozenset(names)
    try:
        yield
    finally:
        _skipped = before


def run_all(context: DemoContext) -> None:
    for step in steps():
        context.log(f"Demo step {step.name}: starting")
        step.function(context)
