"""Apply one inbox event: claim it, lock its account, run its handler, record it.

The inbox row is the single source of truth for where an event stands. Each step
commits on its own, so a worker killed at any point leaves a row that the task's
redelivery or the Beat sweeper picks up again, and every effect is keyed so that
doing a step twice changes nothing.
"""

from __future__ import annotations

from datetime import timedelta

import structlog
from sqlalchemy import select, update

from worker.errors import HeldError, PermanentError, PrerequisiteMissing
from worker.locks import account_lock
from worker.metrics import EVENT_LATENCY, EVENTS_FAILED, EVENTS_PROCESSED
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
    structlog.contextvars.bind_contextvars(
        source=event.source, event_type=event.type, event_id=event.event_id
    )

    refusal = livemode_refusal(runtime, event)
    if refusal:
        raise HeldError(refusal)

    handler = find_handler(event.source, event.type)
    if handler is None:
        reason = f"no handler for {event.source} event type {event.type}"
        finish(runtime, inbox_id, InboxStatus.SKIPPED, reason)
        return InboxStatus.SKIPPED

    key = handler.lock_key(runtime, event)
    with account_lock(
        runtime.redis,
        key,
        timeout=runtime.settings.lock_timeout,
        wait=runtime.settings.lock_wait,
    ):
        attempt = claim(runtime, inbox_id)
        if not attempt:
            return "already applied"
        context = SyncContext(runtime, event, attempt)
        try:
            handler.run(context, event)
        except Skip as skip:
            finish(runtime, inbox_id, InboxStatus.SKIPPED, skip.reason)
            billing_writeback(runtime, event, context.account_id)
            return InboxStatus.SKIPPED
        except PrerequisiteMissing as missing:
            park(runtime, inbox_id, missing.key or key, missing)
            raise
        structlog.contextvars.bind_contextvars(account_id=context.account_id)
        finish(runtime, inbox_id, InboxStatus.DONE, None)
    billing_writeback(runtime, event, context.account_id)
    woken = wake(runtime, {key, *context.landed}, inbox_id)
    if woken:
        log.info("inbox.woken", inbox_id=inbox_id, woken=len(woken))
    return InboxStatus.DONE


def livemode_refusal(runtime: Runtime, event: Event) -> str | None:
    """Why a Stripe event may not be applied in this environment, if it may not.

    Production takes live-mode events only, sandbox and staging test-mode events
    only, so test data never reaches the production books (nor live data a test
    Odoo). Releasing the hold does not help: the event is held again, and the
    operator's way out is to skip it.
    """
    if event.source != "stripe" or event.livemode is None:
        return None
    environment = runtime.settings.revsync_env
    wanted = environment == "production"
    if event.livemode == wanted:
        return None
    mode = "live-mode" if event.livemode else "test-mode"
    return (
        f"refused: a {mode} Stripe event in the {environment} environment "
        "(REVSYNC_ENV); skip it, it cannot be applied here"
    )


def claim(runtime: Runtime, inbox_id: int) -> int:
    """Mark the row processing and count the attempt; 0 if already applied."""
    with runtime.store.session() as session:
        row = session.get(InboxEvent, inbox_id, with_for_update=True)
        if row is None or row.status not in InboxStatus.PENDING:
            return 0
        row.status = InboxStatus.PROCESSING
        row.attempts += 1
        row.updated_at = utcnow()
        return row.attempts


def park(
    runtime: Runtime, inbox_id: int, key: str, missing: PrerequisiteMissing
) -> None:
    """Wait for a prerequisite without spending the attempt, within a bounded time.

    :raises PermanentError: the prerequisite has not come within REVSYNC_MAX_WAIT.
    """
    now = utcnow()
    with runtime.store.session() as session:
        row = session.get(InboxEvent, inbox_id, with_for_update=True)
        if row is None:
            return
        received = row.received_at
        if received.tzinfo is None:
            received = received.replace(tzinfo=now.tzinfo)
        if (now - received).total_seconds() > runtime.settings.max_wait_seconds:
            raise PermanentError(
                f"{missing} for longer than {runtime.settings.max_wait_seconds} s"
            )
        age = (now - received).total_seconds()
        # Waits grow with the event's age, so a long wait costs few wake-ups.
        missing.delay = max(missing.delay, min(300.0, age / 5))
        row.status = InboxStatus.WAITING
        row.attempts = max(row.attempts - 1, 0)
        row.reason = str(missing)
        row.wait_key = key
        row.next_attempt_at = now + timedelta(seconds=missing.delay)
        row.updated_at = now


def wake(runtime: Runtime, keys: set[str], done_id: int) -> list[int]:
    """Queue the events waiting on ``keys`` now that work under them has landed."""
    with runtime.store.session() as session:
        rows = session.execute(
            select(InboxEvent.id, InboxEvent.source, InboxEvent.type).where(
                InboxEvent.status == InboxStatus.WAITING,
                InboxEvent.wait_key.in_(sorted(keys)),
                InboxEvent.id != done_id,
            )
        ).all()
        if not rows:
            return []
        session.execute(
            update(InboxEvent)
            .where(InboxEvent.id.in_([row.id for row in rows]))
            .values(status=InboxStatus.RECEIVED, updated_at=utcnow())
        )
    from worker.inbox import enqueue
    from worker.sync.registry import queue_for

    enqueue(
        runtime.store,
        runtime.producer,
        [(row.id, queue_for(row.source, row.type)) for row in rows],
    )
    return [row.id for row in rows]


def billing_writeback(runtime: Runtime, event: Event, account_id: int | None) -> None:
    """Schedule the account's billing health write-back; never raises."""
    from worker.writeback.push import billing_changed

    billing_changed(runtime, event, account_id)


def finish(runtime: Runtime, inbox_id: int, status: str, reason: str | None) -> None:
    now = utcnow()
    with runtime.store.session() as session:
        row = session.get(InboxEvent, inbox_id, with_for_update=True)
        if row is None:
            return
        row.status = status
        row.reason = reason
        row.wait_key = None
        row.next_attempt_at = None
        row.updated_at = now
        if status in InboxStatus.FINAL:
            row.done_at = now
        source, event_type, received = row.source, row.type, row.received_at
    EVENTS_PROCESSED.labels(source, event_type, status).inc()
    if status == InboxStatus.DONE:
        if received.tzinfo is None:
            received = received.replace(tzinfo=now.tzinfo)
        EVENT_LATENCY.labels(source).observe((now - received).total_seconds())
    log.info("inbox.finished", inbox_id=inbox_id, status=status)


def event_age(runtime: Runtime, inbox_id: int) -> float:
    """Seconds since the event was received."""
    now = utcnow()
    with runtime.store.session() as session:
        received = session.scalar(
            select(InboxEvent.received_at).where(InboxEvent.id == inbox_id)
        )
    if received is None:
        return 0.0
    if received.tzinfo is None:
        received = received.replace(tzinfo=now.tzinfo)
    return (now - received).total_seconds()


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
        attempts, source, event_type = row.attempts, row.source, row.type
    # A retry is recorded twice (the failure, then its schedule): count the latter.
    outcome = {InboxStatus.DEAD: "dead", InboxStatus.HELD: "held"}.get(status)
    if outcome is None and status == InboxStatus.QUEUED and retry_in is not None:
        outcome = "retry"
    if outcome is not None:
        EVENTS_FAILED.labels(source, event_type, outcome).inc()
    return attempts
