"""Stripe deliveries: signature on the raw body, then one inbox event per delivery."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import stripe

from webhooks.inbound import InboundEvent, RejectedDelivery

SIGNATURE_HEADER = "Stripe-Signature"


def verify_stripe(
    body: bytes, header: str | None, secrets: Sequence[str], tolerance: int
) -> None:
    """Accept the delivery if any ``v1`` signature matches any secret in force.

    Several secrets are in force while one is rotated; Stripe then signs with each
    and sends several ``v1`` values, any one of which must be enough.

    :raises RejectedDelivery: 401 when the header is missing, bad or too old.
    """
    if not header:
        raise RejectedDelivery(401, "missing Stripe-Signature header")
    payload = body.decode("utf-8", errors="replace")
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, header, secret, tolerance)
        except stripe.SignatureVerificationError:
            continue
        return
    raise RejectedDelivery(401, "Stripe signature does not match or is too old")


def parse_stripe(body: bytes) -> list[InboundEvent]:
    """The event of a verified delivery; only what the inbox needs is required."""
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise RejectedDelivery(400, "body is not valid JSON") from None
    if not isinstance(event, dict):
        raise RejectedDelivery(400, "event must be a JSON object")
    missing = [name for name in ("id", "type", "created", "data") if name not in event]
    if missing:
        raise RejectedDelivery(400, f"event lacks {', '.join(missing)}")
    data = event["data"]
    if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
        raise RejectedDelivery(400, "event lacks data.object")
    if not isinstance(event["id"], str) or not isinstance(event["type"], str):
        raise RejectedDelivery(400, "event id and type must be strings")
    if not isinstance(event["created"], int) or isinstance(event["created"], bool):
        raise RejectedDelivery(400, "event created must be a unix timestamp")

    obj: dict[str, Any] = data["object"]
    object_ids = {}
    if isinstance(obj.get("id"), str) and isinstance(obj.get("object"), str):
        object_ids[f"stripe_{obj['object']}"] = obj["id"]
    return [
        InboundEvent(
            source="stripe",
            event_id=event["id"],
            type=event["type"],
            payload=event,
            occurred_at=datetime.fromtimestamp(event["created"], UTC),
            livemode=bool(event.get("livemode", False)),
            object_ids=object_ids,
            burst_key=_customer_of(obj),
        )
    ]


def _customer_of(obj: dict[str, Any]) -> str | None:
    """The Stripe customer an event's object belongs to, when it says so."""
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    if isinstance(customer, str) and customer:
        return customer
    if obj.get("object") == "customer" and isinstance(obj.get("id"), str):
        return str(obj["id"])
    return None
