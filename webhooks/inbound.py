"""What a verified webhook delivery becomes before it is stored in the inbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class RejectedDelivery(Exception):
    """A delivery the receiver must refuse without storing anything.

    ``status`` is the HTTP status to answer with (400, 401, 413, 415) and ``reason``
    a short, safe explanation: it never contains payload data or secrets.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class InboundEvent:
    """One event from one delivery, ready for the inbox.

    ``event_id`` is the deduplication identity within ``source``: the inbox is unique
    on (source, event_id), so two deliveries of the same event give one row.
    """

    source: str
    event_id: str
    type: str
    payload: dict[str, Any]
    occurred_at: datetime | None = None
    livemode: bool | None = None
    # Set when the event is stored but must not be processed (for example an echo of
    # revsync's own write-back); the inbox row is then created with status "skipped".
    skip_reason: str | None = None
    object_ids: dict[str, str] = field(default_factory=dict)
    # The account the event is about, as far as the delivery itself says (for a
    # Stripe event, its object's customer): deliveries are counted per key so
    # that one account's burst goes to the bulk queue (``worker.inbox.Bursts``).
    burst_key: str | None = None
