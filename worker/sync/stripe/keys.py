"""Which customer a Stripe object belongs to: the key of its account lock.

Most objects name their customer. Those that do not (an invoice_payment, a refund,
a dispute) are traced through what revsync already holds: the invoice or payment
they refer to, and the account behind it. An object that cannot be traced yet
locks on the object it refers to, and will wait for it anyway.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from worker.runtime import Runtime
from worker.store import CrossReference
from worker.sync.context import Event


def ref_id(value: Any) -> str | None:
    """An expandable field as its id, whether it arrived expanded or not."""
    if isinstance(value, dict):
        value = value.get("id")
    return str(value) if value else None


def customer_of(obj: dict[str, Any]) -> str | None:
    if obj.get("object") == "customer":
        return str(obj["id"])
    return ref_id(obj.get("customer"))


def stripe_lock(runtime: Runtime, event: Event) -> str:
    obj = event.object
    customer = customer_of(obj)
    if customer:
        return f"stripe:customer:{customer}"
    references = [
        ("invoice", ref_id(obj.get("invoice"))),
        ("payment", ref_id(obj.get("payment_intent"))),
        ("payment", ref_id(obj.get("charge"))),
    ]
    payment = obj.get("payment")
    if isinstance(payment, dict):
        references.append(("payment", ref_id(payment.get("payment_intent"))))
    with runtime.store.session() as session:
        for object_type, external_id in references:
            if not external_id:
                continue
            account = session.scalar(
                select(CrossReference.account_id).where(
                    CrossReference.system == "stripe",
                    CrossReference.object_type == object_type,
                    CrossReference.external_id == external_id,
                )
            )
            if account is None:
                continue
            customer = session.scalar(
                select(CrossReference.external_id)
                .where(
                    CrossReference.account_id == account,
                    CrossReference.system == "stripe",
                    CrossReference.object_type == "customer",
                )
                .limit(1)
            )
            if customer:
                return f"stripe:customer:{customer}"
    for object_type, external_id in references:
        if external_id:
            return f"stripe:{object_type}:{external_id}"
    return f"stripe:{obj.get('object')}:{obj.get('id')}"
