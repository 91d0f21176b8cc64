"""What an operator asks first: how much is waiting, where, and for how long."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import redis
from sqlalchemy import func, select

from worker.celery_app import QUEUES
from worker.store import InboxEvent, InboxStatus, Store, utcnow

# kombu's Redis transport keeps priority levels in sibling lists "<queue>\x06\x16<n>".
_PRIORITY_SUFFIXES = ("", *(f"\x06\x16{n}" for n in (1, 2, 3, 4, 5, 6, 7, 8, 9)))


def queue_depths(client: redis.Redis) -> dict[str, int]:
    """Messages waiting in each queue (all priority levels)."""
    pipe = client.pipeline()
    for queue in QUEUES:
        for suffix in _PRIORITY_SUFFIXES:
            pipe.llen(queue + suffix)
    lengths = iter(pipe.execute())
    return {queue: sum(next(lengths) for _ in _PRIORITY_SUFFIXES) for queue in QUEUES}


def inbox_summary(store: Store) -> dict[str, Any]:
    """Counts by status and the age of the oldest waiting, held and dead event."""
    now = utcnow()
    with store.session() as session:
        counts = dict(
            session.execute(
                select(InboxEvent.status, func.count()).group_by(InboxEvent.status)
            ).all()
        )
        oldest = dict(
            session.execute(
                select(InboxEvent.status, func.min(InboxEvent.updated_at))
                .where(
                    InboxEvent.status.in_(
                        [InboxStatus.WAITING, InboxStatus.HELD, InboxStatus.DEAD]
                    )
                )
                .group_by(InboxEvent.status)
            ).all()
        )
    return {
        "counts": {status: int(counts.get(status, 0)) for status in InboxStatus.ALL},
        "oldest_age_seconds": {
            status: _age(now, oldest.get(status))
            for status in (InboxStatus.WAITING, InboxStatus.HELD, InboxStatus.DEAD)
        },
    }


def _age(now: datetime, then: datetime | None) -> float | None:
    if then is None:
        return None
    if then.tzinfo is None:
        # SQLite hands back naive datetimes; revsync writes them in UTC.
        then = then.replace(tzinfo=now.tzinfo)
    return round((now - then).total_seconds(), 1)
