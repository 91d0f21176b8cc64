"""Putting events into the inbox and onto the queues.

Used by the receiver (store, commit, then enqueue) and by the Beat sweeper (enqueue
what was stored but never queued, and what waited long enough).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import redis
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
    session: Session,
    events: Iterable[Any],
    *,
    queued: bool = False,
    queues: Mapping[str, str] | None = None,
) -> tuple[list[tuple[int, str]], int]:
    """Insert the events, ignoring those already stored; commit is the caller's.

    :param queued: store new rows as ``queued`` rather than ``received``, for a
        caller that sends their tasks right after the commit and sets the rows it
        could not send back to ``received`` (``enqueue(..., marked=True)``). That
        saves the receiver a second transaction per delivery; a row whose sender
        died in between is sent again by the sweeper once it counts as stuck.
    :param queues: queue per event id, where it is not the event type's own.
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
        if event.skip_reason:
            status = InboxStatus.SKIPPED
        else:
            status = InboxStatus.QUEUED if queued else InboxStatus.RECEIVED
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
        elif status != InboxStatus.SKIPPED:
            queue = (queues or {}).get(event.event_id) or queue_for(
                event.source, event.type
            )
            created.append((new_id, queue))
    return created, duplicates


BULK = "bulk"


class Bursts:
    """Sends the events of an account that is sending too many to the bulk queue.

    One customer's burst (an import, a plan change across thousands of seats, a
    retry storm) would otherwise fill the realtime queue, first in first out,
    ahead of every other customer's events. Counting deliveries per account in
    a Redis window shared by every receiver process, the events past ``limit``
    within ``window`` seconds go to ``bulk``: the account's own events still
    apply in their time (the pipeline applies events in any order), and the
    rest of the customers keep their realtime latency.
    """

    PREFIX = "revsync:burst:"

    def __init__(self, client: redis.Redis, *, limit: int, window: int) -> None:
        self.client = client
        self.limit = limit
        self.window = window

    def route(self, events: Sequence[Any]) -> tuple[dict[str, str], bool]:
        """Queue per event id for the events of bursting accounts, and whether
        Redis answered (when it does not, the caller need not try to send)."""
        keyed = [
            event
            for event in events
            if getattr(event, "burst_key", None) and not event.skip_reason
        ]
        if not keyed or self.limit <= 0:
            return {}, True
        try:
            pipe = self.client.pipeline(transaction=False)
            for event in keyed:
                name = f"{self.PREFIX}{event.source}:{event.burst_key}"
                pipe.set(name, 0, ex=self.window, nx=True)
                pipe.incr(name)
            counts = pipe.execute()[1::2]
        except redis.ConnectionError:
            return {}, False
        except redis.RedisError as error:
            log.warning("inbox.burst_count_failed", error=type(error).__name__)
            return {}, True
        return {
            event.event_id: BULK
            for event, count in zip(keyed, counts, strict=True)
            if int(count) > self.limit
        }, True


def enqueue(
    store: Store,
    producer: Celery,
    rows: Sequence[tuple[int, str]],
    *,
    marked: bool = False,
) -> int:
    """Send a process task per row and record which rows are queued.

    Rows stored as ``received`` are marked queued once sent. Rows stored as
    ``queued`` already (``marked``) are set back to ``received`` when they could
    not be sent, so the sweeper sends them at its next turn.

    A broker failure is not an error here: the rows wait in the inbox and the
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
    if marked:
        unsent = [inbox_id for inbox_id, _ in rows[len(sent) :]]
        if unsent:
            _set_status(unsent, InboxStatus.QUEUED, InboxStatus.RECEIVED, store)
    elif sent:
        _set_status(sent, InboxStatus.RECEIVED, InboxStatus.QUEUED, store)
    return len(sent)


def _set_status(ids: list[int], old: str, new: str, store: Store) -> None:
    try:
        with store.session() as session:
            session.execute(
                update(InboxEvent)
                .where(InboxEvent.id.in_(ids), InboxEvent.status == old)
                .values(status=new, updated_at=utcnow())
            )
    except SQLAlchemyError as error:
        # Either way nothing is lost: a row marked queued whose task was not sent,
        # or the other way round, is sent again by the sweeper once it counts as
        # stuck, and a worker finds an applied event applied.
        log.warning("inbox.mark_failed", status=new, error=type(error).__name__)


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
