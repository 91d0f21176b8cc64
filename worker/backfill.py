"""Importing Stripe history through the path webhooks take.

``revsync backfill stripe --since DATE`` lists what Stripe holds, created since that
date, and turns each object into the event that would have brought its current
state: a customer becomes ``customer.updated``, a paid invoice ``invoice.paid``, a
paid payout ``payout.paid``. The events go into the inbox and onto the queues like
deliveries, so the same handlers, locks, waits and idempotency apply, and nothing
is written to Odoo here.

An event's id is ``backfill:<object id>:<status>:<digest of the object>``. Running
the backfill again over unchanged objects therefore stores nothing new (the inbox
is unique on source and event id), while an object that changed since is imported
again, and its handler brings Odoo to the new state. A backfill event is dated at
the moment of the run: it shows the newest state known, so it is not taken for
stale against webhook events applied before it, and older webhook events arriving
after it are.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from celery import Celery

from webhooks.inbound import InboundEvent
from worker.inbox import enqueue, insert_events
from worker.store import Store
from worker.stripe_api import StripeAPI
from worker.sync.context import digest

log = structlog.get_logger(__name__)

BATCH = 200


def _by_status(mapping: dict[str, str]) -> Callable[[dict[str, Any]], str | None]:
    def pick(obj: dict[str, Any]) -> str | None:
        return mapping.get(str(obj.get("status")))

    return pick


def _always(event_type: str) -> Callable[[dict[str, Any]], str | None]:
    return lambda obj: event_type


def _dispute(obj: dict[str, Any]) -> str:
    closed = obj.get("status") in ("won", "lost", "warning_closed", "prevented")
    return "charge.dispute.closed" if closed else "charge.dispute.updated"


@dataclass(frozen=True)
class Collection:
    """One Stripe list endpoint, and which event type each of its objects becomes.

    ``event_type`` returns None for objects with nothing to import (a draft
    payout in transit, a failed charge).
    """

    name: str
    path: str
    event_type: Callable[[dict[str, Any]], str | None]
    params: dict[str, str] = field(default_factory=dict)


# In dependency order: a customer before its subscriptions and invoices, an
# invoice before its payments, a payment before its refunds and disputes, all of
# them before the payouts that pay them out. The handlers cope with any order;
# this one spares them waits.
STRIPE_COLLECTIONS = (
    Collection("customers", "/v1/customers", _always("customer.updated")),
    Collection(
        "subscriptions",
        "/v1/subscriptions",
        lambda obj: (
            "customer.subscription.deleted"
            if obj.get("status") == "canceled"
            else "customer.subscription.updated"
        ),
        # Stripe leaves canceled subscriptions out unless asked for all.
        {"status": "all"},
    ),
    Collection(
        "invoices",
        "/v1/invoices",
        _by_status(
            {
                "draft": "invoice.created",
                "open": "invoice.finalized",
                "paid": "invoice.paid",
                "void": "invoice.voided",
                "uncollectible": "invoice.marked_uncollectible",
            }
        ),
    ),
    Collection(
        "invoice payments",
        "/v1/invoice_payments",
        _by_status({"paid": "invoice_payment.paid"}),
    ),
    Collection("charges", "/v1/charges", _by_status({"succeeded": "charge.succeeded"})),
    Collection(
        "credit notes",
        "/v1/credit_notes",
        _by_status({"issued": "credit_note.created", "void": "credit_note.voided"}),
    ),
    Collection("refunds", "/v1/refunds", _always("refund.updated")),
    Collection("disputes", "/v1/disputes", _dispute),
    Collection(
        "payouts",
        "/v1/payouts",
        _by_status(
            {
                "paid": "payout.paid",
                "failed": "payout.failed",
                "canceled": "payout.canceled",
            }
        ),
    ),
)


@dataclass
class BackfillReport:
    """What one run listed and stored; ``duplicates`` were stored by an earlier run."""

    listed: dict[str, int] = field(default_factory=dict)
    ignored: int = 0
    stored: int = 0
    duplicates: int = 0
    queued: int = 0


def backfill_event(obj: dict[str, Any], event_type: str, *, at: int) -> InboundEvent:
    """The inbox event carrying ``obj`` as it stands, with a deterministic id."""
    object_id = str(obj["id"])
    status = str(obj.get("status") or "-")
    event_id = f"backfill:{object_id}:{status}:{digest(obj)[:16]}"
    return InboundEvent(
        source="stripe",
        event_id=event_id,
        type=event_type,
        payload={
            "id": event_id,
            "object": "event",
            "api_version": None,
            "created": at,
            "data": {"object": obj},
            "livemode": bool(obj.get("livemode", False)),
            "pending_webhooks": 0,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        },
        occurred_at=datetime.fromtimestamp(at, UTC),
        livemode=bool(obj.get("livemode", False)),
        object_ids={f"stripe_{obj.get('object')}": object_id},
    )


def list_stripe(
    api: StripeAPI, collection: Collection, since: datetime
) -> list[dict[str, Any]]:
    """Every object of ``collection`` created at or after ``since``, oldest first."""
    stamp = int(since.replace(tzinfo=since.tzinfo or UTC).timestamp())
    objects = api.list_all(
        collection.path, **collection.params, **{"created[gte]": stamp}
    )
    # Stripe lists newest first; the oldest go first into the inbox.
    return list(reversed(objects))


def stripe_events(
    api: StripeAPI,
    since: datetime,
    report: BackfillReport,
    *,
    at: int,
    collections: Iterable[Collection] = STRIPE_COLLECTIONS,
) -> list[InboundEvent]:
    """The backfill events of ``collections``, in dependency order."""
    events: list[InboundEvent] = []
    for collection in collections:
        objects = list_stripe(api, collection, since)
        report.listed[collection.name] = len(objects)
        for obj in objects:
            event_type = collection.event_type(obj)
            if event_type is None:
                report.ignored += 1
                continue
            events.append(backfill_event(obj, event_type, at=at))
    return events


def store_events(
    store: Store,
    producer: Celery,
    events: Iterable[InboundEvent],
    report: BackfillReport,
) -> Iterator[int]:
    """Store and queue ``events`` in batches; yield the size of each batch.

    Each batch is committed before it is queued, as the receiver does; an event
    stored by an earlier run is counted as a duplicate and neither stored nor
    queued again. A broker that is down leaves the events stored for the
    sweeper to queue.
    """
    for batch in _batches(events, BATCH):
        with store.session() as session:
            created, duplicates = insert_events(session, batch)
        report.stored += len(created)
        report.duplicates += duplicates
        report.queued += enqueue(store, producer, created)
        yield len(batch)


def backfill_stripe(
    store: Store, producer: Celery, api: StripeAPI, since: datetime
) -> BackfillReport:
    """Import every Stripe object created since ``since``; see the module."""
    report = BackfillReport()
    events = stripe_events(api, since, report, at=int(time.time()))
    for _ in store_events(store, producer, events, report):
        pass
    log_report(report)
    return report


def log_report(report: BackfillReport) -> None:
    log.info(
        "backfill.stripe.done",
        listed=sum(report.listed.values()),
        stored=report.stored,
        duplicates=report.duplicates,
        queued=report.queued,
    )


def _batches(items: Iterable[InboundEvent], size: int) -> Iterator[list[InboundEvent]]:
    batch: list[InboundEvent] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
