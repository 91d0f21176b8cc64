"""What operators do to events: find them, read their story, replay, skip, release.

The CLI and the operator HTTP API both call these functions, and every action that
changes an event lands in the audit log with the operator's note.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from celery import Celery
from sqlalchemy import select

from worker.inbox import enqueue
from worker.store import AuditEntry, InboxEvent, InboxStatus, Store, utcnow
from worker.sync.registry import queue_for

# Keys whose values identify a person or a company: shown masked unless asked.
PERSONAL_KEYS = frozenset(
    """name email phone address line1 line2 city postal_code state description
    customer_name customer_email customer_phone customer_address customer_shipping
    shipping billing_details receipt_email firstname lastname company domain
    propertyValue value requester""".split()
)
REPLAYABLE = (
    InboxStatus.DEAD,
    InboxStatus.HELD,
    InboxStatus.WAITING,
    InboxStatus.SKIPPED,
    InboxStatus.DONE,
    InboxStatus.RECEIVED,
    InboxStatus.QUEUED,
)


class OperationError(Exception):
    """The operator asked for something that cannot be done; the message says why."""


@dataclass(frozen=True)
class EventFilter:
    status: str | None = None
    source: str | None = None
    type: str | None = None
    account: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    ids: tuple[int, ...] = ()
    limit: int = 100

    def is_empty(self) -> bool:
        return not (
            self.status
            or self.source
            or self.type
            or self.account
            or self.since
            or self.until
            or self.ids
        )


def _query(events: EventFilter) -> Any:
    query = select(InboxEvent).order_by(InboxEvent.id)
    if events.ids:
        query = query.where(InboxEvent.id.in_(events.ids))
    if events.status:
        query = query.where(InboxEvent.status == events.status)
    if events.source:
        query = query.where(InboxEvent.source == events.source)
    if events.type:
        query = query.where(InboxEvent.type == events.type)
    if events.account:
        query = query.where(InboxEvent.account_id == events.account)
    if events.since:
        query = query.where(InboxEvent.received_at >= events.since)
    if events.until:
        query = query.where(InboxEvent.received_at < events.until)
    return query.limit(events.limit)


def summary(row: InboxEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "source": row.source,
        "event_id": row.event_id,
        "type": row.type,
        "status": row.status,
        "attempts": row.attempts,
        "reason": row.reason,
        "account_id": row.account_id,
        "received_at": row.received_at.isoformat(),
        "updated_at": row.updated_at.isoformat(),
    }


def list_events(store: Store, events: EventFilter) -> list[dict[str, Any]]:
    with store.session() as session:
        return [summary(row) for row in session.scalars(_query(events))]


def redact(value: Any, key: str | None = None) -> Any:
    """The payload with personal values masked; ids, amounts and states stay."""
    if isinstance(value, dict):
        return {k: redact(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item, key) for item in value]
    if key in PERSONAL_KEYS and value not in (None, "", {}, []):
        return "[redacted]"
    if isinstance(value, str) and "@" in value:
        return "[redacted]"
    return value


def event_story(
    store: Store, inbox_id: int, *, payload: bool = False
) -> dict[str, Any]:
    """One event: where it stands, what was tried, and what it wrote."""
    with store.session() as session:
        row = session.get(InboxEvent, inbox_id)
        if row is None:
            raise OperationError(f"no inbox event {inbox_id}")
        audit = session.scalars(
            select(AuditEntry)
            .where(AuditEntry.inbox_id == inbox_id)
            .order_by(AuditEntry.id)
        ).all()
        story = summary(row)
        story.update(
            last_error=row.last_error,
            occurred_at=row.occurred_at.isoformat() if row.occurred_at else None,
            done_at=row.done_at.isoformat() if row.done_at else None,
            next_attempt_at=row.next_attempt_at.isoformat()
            if row.next_attempt_at
            else None,
            released_by=row.released_by,
            payload=row.payload if payload else redact(row.payload),
            writes=[
                {
                    "at": entry.at.isoformat(),
                    "actor": entry.actor,
                    "system": entry.system,
                    "model": entry.model,
                    "record_id": entry.record_id,
                    "operation": entry.operation,
                    "fields": entry.fields,
                    "note": entry.note,
                }
                for entry in audit
            ],
        )
        return story


def _act(
    store: Store,
    producer: Celery | None,
    events: EventFilter,
    *,
    allowed: Sequence[str],
    operation: str,
    actor: str,
    note: str,
) -> list[int]:
    if events.is_empty():
        raise OperationError("name events by id or by a filter")
    if not note.strip():
        raise OperationError("a note saying why is required")
    now = utcnow()
    changed: list[tuple[int, str]] = []
    with store.session() as session:
        for row in session.scalars(_query(events).with_for_update()):
            if row.status not in allowed:
                continue
            if operation == "skip":
                row.status = InboxStatus.SKIPPED
                row.reason = f"skipped by {actor}: {note}"
                row.done_at = now
            else:
                if operation == "release":
                    row.released_at = now
                    row.released_by = actor
                row.status = InboxStatus.RECEIVED
                row.attempts = 0
                row.reason = f"{operation}d by {actor}: {note}"
                row.next_attempt_at = None
                row.wait_key = None
                row.done_at = None
            row.updated_at = now
            session.add(
                AuditEntry(
                    at=now,
                    actor=actor,
                    system="revsync",
                    model="inbox",
                    record_id=str(row.id),
                    operation=operation,
                    inbox_id=row.id,
                    note=note,
                )
            )
            changed.append((row.id, queue_for(row.source, row.type)))
    if producer is not None and operation != "skip":
        enqueue(store, producer, changed)
    return [inbox_id for inbox_id, _ in changed]


def replay(
    store: Store, producer: Celery, events: EventFilter, *, actor: str, note: str
) -> list[int]:
    """Run the events again from the start; safe to repeat, flows are idempotent."""
    return _act(
        store,
        producer,
        events,
        allowed=REPLAYABLE,
        operation="replay",
        actor=actor,
        note=note,
    )


def skip(store: Store, events: EventFilter, *, actor: str, note: str) -> list[int]:
    """Give up on events an operator decided need no work."""
    return _act(
        store,
        None,
        events,
        allowed=(InboxStatus.DEAD, InboxStatus.HELD, InboxStatus.WAITING),
        operation="skip",
        actor=actor,
        note=note,
    )


def release(
    store: Store, producer: Celery, events: EventFilter, *, actor: str, note: str
) -> list[int]:
    """Let held events through their gate and process them."""
    return _act(
        store,
        producer,
        events,
        allowed=(InboxStatus.HELD,),
        operation="release",
        actor=actor,
        note=note,
    )
