"""Healing by re-sync: a synthetic Stripe event, stored and queued like a webhook.

The event carries the object as Stripe shows it now, so the ordinary idempotent
handlers bring Odoo there; nothing here writes to Odoo itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select

from worker.inbox import enqueue, insert_events
from worker.reconcile.compare import Mismatch
from worker.runtime import Runtime
from worker.store import InboxEvent

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class SyntheticEvent:
    """What ``insert_events`` needs of an inbound event."""

    source: str
    event_id: str
    type: str
    payload: dict[str, Any]
    occurred_at: datetime | None
    livemode: bool | None
    skip_reason: str | None = None
    object_ids: dict[str, str] = field(default_factory=dict)


def heal_event(run_id: int, event_type: str, obj: dict[str, Any]) -> SyntheticEvent:
    created = int(time.time())
    event_id = f"reconcile:{run_id}:{obj['id']}"
    return SyntheticEvent(
        source="stripe",
        event_id=event_id,
        type=event_type,
        payload={
            "id": event_id,
            "object": "event",
            "type": event_type,
            "created": created,
            "livemode": bool(obj.get("livemode", False)),
            "data": {"object": obj},
            "request": {"id": None, "idempotency_key": None},
        },
        occurred_at=datetime.fromtimestamp(created, UTC),
        livemode=bool(obj.get("livemode", False)),
    )


def queue_heals(runtime: Runtime, run_id: int, mismatches: list[Mismatch]) -> int:
    """Store one re-sync event per object to heal and queue them; returns how many."""
    events: dict[str, SyntheticEvent] = {}
    for mismatch in mismatches:
        if mismatch.healable and mismatch.heal_object and mismatch.heal_type:
            event = heal_event(run_id, mismatch.heal_type, mismatch.heal_object)
            events.setdefault(event.event_id, event)
    if not events:
        return 0
    with runtime.store.session() as session:
        created, _ = insert_events(session, list(events.values()))
    with runtime.store.session() as session:
        ids = dict(
            session.execute(
                select(InboxEvent.event_id, InboxEvent.id).where(
                    InboxEvent.source == "stripe",
                    InboxEvent.event_id.in_(list(events)),
                )
            ).all()
        )
    for mismatch in mismatches:
        if mismatch.healable and mismatch.heal_object:
            mismatch.inbox_id = ids.get(
                f"reconcile:{run_id}:{mismatch.heal_object['id']}"
            )
    sent = enqueue(runtime.store, runtime.producer, created)
    log.info("reconcile.heal_queued", run_id=run_id, events=len(created), sent=sent)
    return len(created)
