"""Events other apps react to, announced from one place on every path: an explicit registry of receivers.

Django's pattern for this is the signal; ours is a registry keyed by the event's class, so that every
subscriber of an event is found with one grep (`@receiver(PurchasePosted)`), receivers get events in sets
(a batch of 20,000 purchases is one call, not 20,000), and nothing is sent by `save()` behind the reader's
back. The module knows no domain model: each app defines the events it announces (frozen dataclasses of
ids and values, e.g. `rewards.events.PurchasePosted`) and registers its receivers in `AppConfig.ready()`.

Two moments:
- `announce(events)` inside the transaction that wrote what the events describe calls the in-transaction
  receivers at once, in that transaction: what they write commits or rolls back with the cause (challenge
  progress, a referral's points). A path re-run after an interruption announces only what it writes anew,
  so a receiver sees each event once.
- receivers registered with `on_commit=True` (emails, webhooks, Celery tasks) run after the transaction
  commits, once, and never for a rolled-back write.
"""

from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from django.db import transaction

Event = TypeVar("Event")
Receiver = Callable[[Sequence[Any]], None]

_in_transaction: dict[type, list[Receiver]] = defaultdict(list)
_on_commit: dict[type, list[Receiver]] = defaultdict(list)


def receiver(event_type: type, *, on_commit: bool = False) -> Callable[[Receiver], Receiver]:
    """Register `function(events)` for every announced set of `event_type`. Registering twice is once."""

    def register(function: Receiver) -> Receiver:
        registry = _on_commit if on_commit else _in_transaction
        if function not in registry[event_type]:
            registry[event_type].append(function)
        return function

    return register


def announce(events: Sequence[Event], *, using: str | None = None) -> None:
    """Tell the receivers of these events' type; all events of one call share a type. Call it in the
    transaction that wrote what they describe, once per write (a re-run writing nothing announces nothing)."""
    if not events:
        return
    event_type = type(events[0])
    batch = tuple(events)
    for function in _in_transaction.get(event_type, ()):
        function(batch)
    for function in _on_commit.get(event_type, ()):
        transaction.on_commit(lambda function=function: function(batch), using=using)


def has_receivers(event_type: type) -> bool:
    """Whether anyone listens to `event_type`: a path that works in sets builds its events only then, so
    announcing costs nothing (no list, no query) while nobody subscribes."""
    return bool(_in_transaction.get(event_type) or _on_commit.get(event_type))


def unregister(event_type: type, function: Receiver) -> None:
    """Remove a receiver of `event_type` (either moment); removing one not registered does nothing."""
    for registry in (_in_transaction, _on_commit):
        if function in registry.get(event_type, ()):
            registry[event_type].remove(function)


@contextmanager
def receiving(event_type: type, function: Receiver, *, on_commit: bool = False) -> Iterator[Receiver]:
    """`function` receives `event_type` inside the block only (tests, one-off scripts)."""
    receiver(event_type, on_commit=on_commit)(function)
    try:
        yield function
    finally:
        unregister(event_type, function)


def receivers(event_type: type) -> list[Receiver]:
    """Every receiver of an event type, in-transaction ones first (for docs and tests)."""
    return [*_in_transaction.get(event_type, ()), *_on_commit.get(event_type, ())]
