"""Which handler applies an event, and which account lock it needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from worker.runtime import Runtime
    from worker.sync.context import Event, SyncContext

HandlerFunc = Callable[["SyncContext", "Event"], None]
LockKeyFunc = Callable[["Runtime", "Event"], str]


@dataclass(frozen=True)
class Handler:
    name: str
    run: HandlerFunc
    lock_key: LockKeyFunc
    queue: str


_handlers: dict[tuple[str, str], Handler] = {}


def handles(
    source: str, *types: str, lock: LockKeyFunc, queue: str = "default"
) -> Callable[[HandlerFunc], HandlerFunc]:
    """Register the decorated function for ``types`` of ``source``."""

    def register(func: HandlerFunc) -> HandlerFunc:
        for event_type in types:
            key = (source, event_type)
            if key in _handlers:
                raise RuntimeError(f"two handlers for {source} {event_type}")
            _handlers[key] = Handler(func.__name__, func, lock, queue)
        return func

    return register


def find_handler(source: str, event_type: str) -> Handler | None:
    _load_flows()
    return _handlers.get((source, event_type))


def queue_for(source: str, event_type: str) -> str:
    """The queue an event is processed on; unhandled events need no urgency."""
    handler = find_handler(source, event_type)
    return handler.queue if handler else "default"


def _load_flows() -> None:
    # Importing the flow modules registers their handlers.
    import worker.sync.hubspot
    import worker.sync.stripe
    import worker.sync.zendesk  # noqa: F401
