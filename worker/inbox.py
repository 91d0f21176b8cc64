"""Putting events into the inbox and onto the queues.

Used by the receiver (store, commit, then enqueue) and by the Beat sweeper (enqueue
what was stored but never queued, and what waited long enough).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any

import structlog
from celery import Celery
from sqlalchemy import and_, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from worker.store import InboxEvent, InboxStatus, Store, utcnow
from worker.sync.registry import queue_for

log = structlog.get_logger(__name__)

PROCESS_EVENT = "revsync.inbox.process_event"


def insert_events(
    session: Session, events: Iterable[Any]
) -> tuple[list[tuple[int, str]], int]:
    """Insert the events, ignoring those already stored; commit is the caller's.

    :returns: (id and queue of each new row that needs processing, duplicates).
    The unique constraint on (source, event_id) decides, so two concurrent
    deliveries of one event store it once whichever commits first.
    """
    insert = (
        postgresql.insert
        if session.get_bind().dialect.name == "postgresql"
        else sqlite.insert
    )
    now = utcnow()
    created: list[tuple[int, str]] = []
    duplicates = 0
    for event in events:
        status = InboxStatus.SKIPPED if event.skip_reason else InboxStatus.RECEIVED
        statement = (
            insert(InboxEvent)
            .values(
                source=event.source,
                event_id=event.event_id,
                type=event.type,
                received_at=now,
                occurred_at=event.occurred_at,
                livemode=event.livemode,
                payload=event.payload,
                status=status,
                reason=event.skip_reason,
                attempts=0,
                updated_at=now,
                done_at=now if event.skip_reason else None,
            )
            .on_conflict_do_nothing(index_elements=["source", "event_id"])
            .returning(InboxEvent.id)
        )
        new_id = session.execute(statement).scalar_one_or_none()
        if new_id is None:
            duplicates += 1
        elif status == InboxStatus.RECEIVED:
            created.append((new_id, queue_for(event.source, event.type)))
    return created, duplicates


def enqueue(store: Store, producer: Celery, rows: Sequence[tuple[int, str]]) -> int:
    """Send a process task per row and mark the sent ones queued.

    A broker failure is not an error here: the rows stay ``received`` and the
    sweeper sends them later. Returns how many were sent.
    """
    sent: list[int] = []
    for inbox_id, queue in rows:
        try:
            producer.send_task(PROCESS_EVENT, args=[inbox_id], queue=queue)
        except Exception as error:  # noqa: BLE001 - any broker failure means "later"
            log.warning(
                "inbox.enqueue_failed", inbox_id=inbox_id, error=type(error).__name__
            )
            break
        sent.append(inbox_id)
    if not sent:
        return 0
    try:
        with store.session() as session:
            session.execute(
                update(InboxEvent)
                .where(
                    InboxEvent.id.in_(sent),
                    InboxEvent.status == InboxStatus.RECEIVED,
                )
                .values(status=InboxStatus.QUEUED, updated_at=utcnow())
            )
    except SQLAlchemyError as error:
        # The tasks are on their way; at worst the sweeper sends them once more and
        # the worker finds them applied.
        log.warning("inbox.mark_queued_failed", error=type(error).__name__)
    return len(sent)


def due_for_sweep(
    session: Session, *, received_before: float, stuck_after: float, limit: int
) -> list[tuple[int, str, str]]:
    """Rows a worker should see again: never queued, stuck, or done waiting."""
    now = utcnow()
    rows = session.execute(
        select(InboxEvent.id, InboxEvent.source, InboxEvent.type)
        .where(
            or_(
                and_(
                    InboxEvent.status == InboxStatus.RECEIVED,
                    InboxEvent.received_at <= now - timedelta(seconds=received_before),
                ),
                and_(
                    InboxEvent.status == InboxStatus.WAITING,
                    InboxEvent.next_attempt_at <= now,
                ),
                # A worker died or the broker lost the message: nothing has touched
                # the row for longer than any task or countdown can take.
                and_(
                    InboxEvent.status.in_([InboxStatus.QUEUED, InboxStatus.PROCESSING]),
                    InboxEvent.updated_at <= now - timedelta(seconds=stuck_after),
                    or_(
                        InboxEvent.next_attempt_at.is_(None),
                        InboxEvent.next_attempt_at
                        <= now - timedelta(seconds=stuck_after),
                    ),
                ),
            )
        )
        .order_by(InboxEvent.id)
        .limit(limit)
    ).all()
    return [(row.id, row.source, row.type) for row in rows]


def sweep(
    store: Store, producer: Celery, *, received_before: float, stuck_after: float
) -> int:
    """Queue every row that is due; returns how many were sent."""
    with store.session() as session:
        due = due_for_sweep(
            session,
            received_before=received_before,
            stuck_after=stuck_after,
            limit=5000,
        )
        # Back to received so that enqueue marks them queued once sent.
        if due:
            session.execute(
                update(InboxEvent)
                .where(InboxEvent.id.in_([row[0] for row in due]))
                .values(status=InboxStatus.RECEIVED, updated_at=utcnow())
            )
    rows = [(inbox_id, queue_for(source, type_)) for inbox_id, source, type_ in due]
    sent = enqueue(store, producer, rows)
    if due:
        log.info("inbox.swept", due=len(due), sent=sent)
    return sent
