"""Stripe snapshots recorded in the store the way the Stripe handlers record them:
a cross-reference to the account, an applied inbox event, and the entity version
that names it. Tests use them to change an account's billing state quickly."""

from __future__ import annotations

import time
from typing import Any

from tests.conftest import unique
from worker.store import CrossReference, EntityVersion, InboxEvent, Store, utcnow
from worker.store.models import InboxStatus

DAY = 86400
PERIOD_END = 1_769_904_000  # 2026-02-01


def subscription(
    sub_id: str,
    *,
    status: str = "active",
    price_id: str = "price_pro_monthly",
    nickname: str | None = None,
    unit_amount: int = 4900,
    quantity: int = 1,
    interval: str = "month",
    currency: str = "usd",
    period_end: int = PERIOD_END,
    cancel_at_period_end: bool = False,
) -> dict[str, Any]:
    """A basil-shaped subscription with one item."""
    price = {
        "id": price_id,
        "object": "price",
        "currency": currency,
        "nickname": nickname,
        "product": f"prod_{price_id}",
        "recurring": {"interval": interval, "interval_count": 1},
        "unit_amount": unit_amount,
        "unit_amount_decimal": str(unit_amount),
    }
    return {
        "id": sub_id,
        "object": "subscription",
        "status": status,
        "currency": currency,
        "cancel_at_period_end": cancel_at_period_end,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{sub_id}",
                    "object": "subscription_item",
                    "price": price,
                    "quantity": quantity,
                    "current_period_end": period_end,
                }
            ],
        },
    }


def invoice(
    invoice_id: str, *, status: str = "open", remaining: int = 4900, currency="usd"
) -> dict[str, Any]:
    return {
        "id": invoice_id,
        "object": "invoice",
        "status": status,
        "currency": currency,
        "amount_remaining": remaining,
    }


def record(
    store: Store,
    account_id: int,
    obj: dict[str, Any],
    *,
    event_type: str,
    created: int | None = None,
) -> str:
    """Store ``obj`` as the latest applied state of its Stripe object."""
    object_type = str(obj["object"])
    event_id = unique("evt")
    created = created if created is not None else int(time.time())
    now = utcnow()
    with store.session() as session:
        session.add(
            InboxEvent(
                source="stripe",
                event_id=event_id,
                type=event_type,
                received_at=now,
                payload={
                    "id": event_id,
                    "object": "event",
                    "type": event_type,
                    "created": created,
                    "data": {"object": obj},
                },
                status=InboxStatus.DONE,
                attempts=1,
                account_id=account_id,
                updated_at=now,
                done_at=now,
            )
        )
        xref = (
            session.query(CrossReference)
            .filter_by(system="stripe", object_type=object_type, external_id=obj["id"])
            .one_or_none()
        )
        if xref is None:
            session.add(
                CrossReference(
                    account_id=account_id,
                    system="stripe",
                    object_type=object_type,
                    external_id=obj["id"],
                    created_at=now,
                    updated_at=now,
                )
            )
        version = session.get(EntityVersion, ("stripe", object_type, obj["id"]))
        if version is None:
            version = EntityVersion(
                system="stripe", object_type=object_type, external_id=obj["id"]
            )
            session.add(version)
        version.source_ts = created
        version.status = obj["status"]
        version.event_id = event_id
        version.updated_at = now
    return event_id
