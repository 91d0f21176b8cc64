"""Apply one inbox event: claim it, lock its account, run its handler, record it.

The inbox row is the single source of truth for where an event stands. Each step
commits on its own, so a worker killed at any point leaves a row that the task's
redelivery or the Beat sweeper picks up again, and every effect is keyed so that
doing a step twice changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import structlog

from worker.locks import account_lock
from worker.runtime import Runtime
from worker.store import InboxEvent, InboxStatus, utcnow
from worker.sync import Event, Skip, SyncContext, find_handler

log = structlog.get_logger(__name__)


def process_inbox_event(runtime: Runtime, inbox_id: int) -> str:
    """Apply the event and return its final status (or why nothing was done)."""
    with runtime.store.session() as session:
        row = session.get(InboxEvent, inbox_id)
        if row is None:
            return "missing"
        if row.status not in InboxStatus.PENDING:
            # Delivered twice by the broker, or replayed after it was applied.
            return row.status
        event = Event.from_row(row)

    handler = find_handler(event.source, event.type)
    if handler is None:
        reason = f"no handler for {event.source} event type {event.type}"
        finish(runtime, inbox_id, InboxStatus.SKIPPED, reason)
        return InboxStatus.SKIPPED

    with account_lock(
        runtime.redis,
        handler.lock_key(event),
        timeout=runtime.settings.lock_timeout,
        wait=runtime.settings.lock_wait,
    ):
        if not claim(runtime, inbox_id):
            return "already applied"
        context = SyncContext(runtime, event)
        try:
            handler.run(context, event)
        except Skip as skip:
            finish(runtime, inbox_id, InboxStatus.SKIPPED, skip.reason)
            return InboxStatus.SKIPPED
        finish(runtime, inbox_id, InboxStatus.DONE, None)
    return InboxStatus.DONE


def claim(runtime: Runtime, inbox_id: int) -> bool:
    """Mark the row processing and count the attempt; False if already applied."""
    with runtime.store.session() as session:
        row = session.get(InboxEvent, inbox_id, with_for_update=True)
        if row is None or row.status not in InboxStatus.PENDING:
            return False
        row.status = InboxStatus.PROCESSING
        row.attempts += 1
        row.updated_at = utcnow()
        return True


def finish(runtime: Runtime, inbox_id: int, status: str, reason: str | None) -> None:
    now = utcnow()
    with runtime.store.session() as session:
        row = session.get(InboxEvent, inbox_id, with_for_update=True)
        if row is None:
            return
        row.status = status
        row.reason = reason
        row.next_attempt_at = None
        row.updated_at = now
        if status in InboxStatus.FINAL:
            row.done_at = now
    log.info("inbox.finished", inbox_id=inbox_id, status=status)


def record_failure(
    runtime: Runtime,
    inbox_id: int,
    *,
    status: str,
    reason: str,
    retry_in: float | None = None,
) -> int:
    """Store a failed attempt; return the attempts spent so far."""
    now = utcnow()
    with runtime.store.session() as session:
        row = session.get(InboxEvent, inbox_id, with_for_update=True)
        if row is None:
            return 0
        row.status = status
        row.last_error = reason
        if status in (InboxStatus.DEAD, InboxStatus.HELD, InboxStatus.WAITING):
            row.reason = reason
        row.next_attempt_at = (
            now + timedelta(seconds=retry_in) if retry_in is not None else None
        )
        row.updated_at = now
        return row.attempts
