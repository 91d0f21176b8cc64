"""The partner every Stripe object hangs off, and its lifecycle tag."""

from __future__ import annotations

from typing import Any

from worker.errors import PrerequisiteMissing
from worker.odoo.client import external_id, qualified
from worker.stripe_api import stripe_api
from worker.sync.context import SyncContext
from worker.sync.stripe.customers import partner_values


def partner_xmlid(customer_id: str) -> str:
    return qualified(external_id("stripe", "customer", customer_id))


def ensure_partner(
    ctx: SyncContext, customer_id: str, known: dict[str, Any] | None = None
) -> int:
    """The Odoo partner of a Stripe customer, created now if it does not exist yet.

    A customer event may arrive after its invoices. Rather than fail, the partner is
    created from the Stripe API when revsync can read it, else from what the event
    at hand knows (``known``: name, e-mail, country); the customer's own event later
    fills in the rest under the same external id. Returns the partner id and leaves
    the account on ``ctx.account_id``.
    """
    xref = ctx.xref("stripe", "customer", customer_id)
    if xref is not None and xref.odoo_id:
        ctx.account_id = xref.account_id
        return int(xref.odoo_id)

    customer: dict[str, Any] | None = None
    api = stripe_api(ctx.runtime.settings)
    if api is not None:
        customer = api.get(f"/v1/customers/{customer_id}")
    if customer is None:
        if known is None:
            raise PrerequisiteMissing(
                f"waiting for stripe customer {customer_id}",
                key=f"stripe:customer:{customer_id}",
                delay=5,
            )
        customer = {"id": customer_id, **known}

    values = partner_values(customer)
    partner_id = ctx.odoo.load_record("res.partner", partner_xmlid(customer_id), values)
    ctx.audit(
        system="odoo",
        model="res.partner",
        record_id=partner_id,
        operation="create",
        fields=[name.split("/")[0] for name in values],
        note="created as a prerequisite",
    )
    ctx.link(
        "stripe", "customer", customer_id, odoo_model="res.partner", odoo_id=partner_id
    )
    return partner_id


def set_lifecycle_tag(ctx: SyncContext, partner_id: int, status: str) -> None:
    """Give the partner the tag of ``status`` and take away the other status tags."""
    wanted = ctx.mapping.tag(_lifecycle(status))
    if wanted is None:
        return
    others = [
        name
        for key, name in ctx.mapping.tags.items()
        if name != wanted and key != "dunning"
    ]
    commands: list[Any] = [(3, tag_id) for tag_id in ctx.catalog.tag_ids(others)]
    commands.append((4, ctx.catalog.tag(wanted)))
    ctx.odoo.call("res.partner", "write", [partner_id], {"category_id": commands})
    ctx.audit(
        system="odoo",
        model="res.partner",
        record_id=partner_id,
        operation="tag",
        fields=["category_id"],
        note=f"lifecycle {_lifecycle(status)}",
    )


def set_dunning_tag(ctx: SyncContext, partner_id: int, on: bool) -> None:
    name = ctx.mapping.tag("dunning")
    if name is None:
        return
    tag_id = ctx.catalog.tag(name)
    ctx.odoo.call(
        "res.partner",
        "write",
        [partner_id],
        {"category_id": [(4 if on else 3, tag_id)]},
    )
    ctx.audit(
        system="odoo",
        model="res.partner",
        record_id=partner_id,
        operation="tag",
        fields=["category_id"],
        note="dunning on" if on else "dunning cleared",
    )


def _lifecycle(status: str) -> str:
    """Stripe's subscription status as one of revsync's lifecycle statuses."""
    return {
        "unpaid": "past_due",
        "incomplete_expired": "canceled",
        "incomplete": "trialing",
    }.get(status, status)
