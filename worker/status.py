"""What an operator asks first: how much is waiting, where, and for how long."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import redis
from sqlalchemy import func, select

from worker.celery_app import QUEUES
from worker.store import (
    CrossReference,
    EntityVersion,
    InboxEvent,
    InboxStatus,
    Store,
    utcnow,
)

# Stripe statuses under which a subscription's sale order must be confirmed.
LIVE_SUBSCRIPTION = ("active", "trialing")
ENDED_SUBSCRIPTION = ("canceled", "incomplete_expired")
# Events that report money received against an invoice.
PAYMENT_EVENT_TYPES = (
    "invoice_payment.paid",
    "invoice.paid",
    "invoice.payment_succeeded",
    "charge.succeeded",
    "payment_intent.succeeded",
)
UNMATCHED = (InboxStatus.WAITING, InboxStatus.HELD, InboxStatus.DEAD)

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


def activations_delayed(store: Store, older_than: float) -> int:
    """Stripe subscriptions live (active or trialing) for longer than
    ``older_than`` seconds whose Odoo sale order is still not confirmed.

    Live is what a subscription event says, whether it was applied or is stuck
    (waiting, held, dead, or never picked up); confirmed is the order's state in
    the cross-reference. A subscription that has ended since is not counted.
    """
    cutoff = utcnow() - timedelta(seconds=older_than)
    object_id = InboxEvent.payload[("data", "object", "id")].as_string()
    object_status = InboxEvent.payload[("data", "object", "status")].as_string()
    with store.session() as session:
        stuck = session.scalars(
            select(object_id).where(
                InboxEvent.source == "stripe",
                InboxEvent.type.like("customer.subscription.%"),
                InboxEvent.status.not_in(InboxStatus.FINAL),
                InboxEvent.received_at < cutoff,
                object_status.in_(LIVE_SUBSCRIPTION),
            )
        ).all()
        applied = session.scalars(
            select(EntityVersion.external_id).where(
                EntityVersion.system == "stripe",
                EntityVersion.object_type == "subscription",
                EntityVersion.status.in_(LIVE_SUBSCRIPTION),
                EntityVersion.updated_at < cutoff,
            )
        ).all()
        candidates = {ident for ident in (*stuck, *applied) if ident}
        if not candidates:
            return 0
        confirmed = session.scalars(
            select(CrossReference.external_id).where(
                CrossReference.system == "stripe",
                CrossReference.object_type == "subscription",
                CrossReference.external_id.in_(sorted(candidates)),
                CrossReference.state.in_(("sale", "done")),
            )
        ).all()
        ended = session.scalars(
            select(EntityVersion.external_id).where(
                EntityVersion.system == "stripe",
                EntityVersion.object_type == "subscription",
                EntityVersion.external_id.in_(sorted(candidates)),
                EntityVersion.status.in_(ENDED_SUBSCRIPTION),
            )
        ).all()
    return len(candidates - set(confirmed) - set(ended))


def unmatched_payments(store: Store) -> dict[str, int]:
    """Stripe payment events not registered against an Odoo invoice, by status.

    A payment whose invoice has not landed waits for it, and is dead when it never
    comes; a held one waits for an operator. Either way the money is in Stripe and
    not yet in the books.
    """
    with store.session() as session:
        counts = dict(
            session.execute(
                select(InboxEvent.status, func.count())
                .where(
                    InboxEvent.source == "stripe",
                    InboxEvent.type.in_(PAYMENT_EVENT_TYPES),
                    InboxEvent.status.in_(UNMATCHED),
                )
                .group_by(InboxEvent.status)
            ).all()
        )
    return {status: int(counts.get(status, 0)) for status in UNMATCHED}


def last_reconciliation(store: Store) -> dict[str, Any] | None:
    """The latest reconciliation run: when, what it found, where its report is."""
    from worker.store import ReconcileRun

    with store.session() as session:
        run = session.scalars(
            select(ReconcileRun).order_by(ReconcileRun.id.desc()).limit(1)
        ).first()
        if run is None:
            return None
        return {
            "run_id": run.id,
            "status": run.status,
            "started_at": run.started_at.isoformat(),
            "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            "window_start": run.window_start.isoformat(),
            "window_end": run.window_end.isoformat(),
            "mismatches": dict(run.counts or {}),
            "healed": run.healed,
            "exceptions": run.exceptions,
            "odoo_calls": run.odoo_calls,
            "report_json": run.report_json,
        }
