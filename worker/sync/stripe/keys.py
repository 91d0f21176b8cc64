"""Which customer a Stripe object belongs to: the key of its account lock."""

from __future__ import annotations

from typing import Any

from worker.errors import PermanentError
from worker.sync.context import Event


def customer_id(obj: dict[str, Any]) -> str:
    """The Stripe customer id of an object (the id itself for a customer)."""
    if obj.get("object") == "customer":
        return str(obj["id"])
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    if not customer:
        raise PermanentError(
            f"stripe {obj.get('object')} {obj.get('id')} has no customer"
        )
    return str(customer)


def customer_lock(event: Event) -> str:
    return f"stripe:customer:{customer_id(event.object)}"
