"""Demo steps other apps add: each app fills its own part of the demo after the core data exists.

`demo_seed` creates the programme, members, purchases, refunds, expiry and logins, then runs every registered
step in `order` (ties by name). An app registers from its own `demo.py`, imported by its AppConfig.ready(), so
the demo command never imports an app's models to seed them and a new app adds its demo without editing the
command. A step gets a `DemoContext` and must be deterministic for a seed and a day, like the rest of the demo.
"""

from collections.abc import Callable
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


def register(name: str, function: Callable[[DemoContext], None], *, order: int) -> None:
    """Add (or replace) the step `name`; `order` sorts the steps, leave gaps (10, 20, 30)."""
    _steps[name] = DemoStep(name=name, function=function, order=order)


def steps() -> list[DemoStep]:
    return sorted(_steps.values(), key=lambda step: (step.order, step.name))


def run_all(context: DemoContext) -> None:
    for step in steps():
        context.log(f"Demo step {step.name}: starting")
        step.function(context)
