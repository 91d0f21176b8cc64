"""A Stripe customer becomes one Odoo company partner, under its external id."""

from __future__ import annotations

from typing import Any

from worker.odoo.client import external_id, qualified
from worker.sync.context import Event, Skip, SyncContext, digest
from worker.sync.registry import handles
from worker.sync.stripe.keys import customer_lock


def partner_values(customer: dict[str, Any]) -> dict[str, Any]:
    """The res.partner fields Stripe owns for a customer only Stripe knows."""
    address = customer.get("address") or {}
    country = (address.get("country") or "").strip().lower()
    return {
        # A customer without a name still needs one in Odoo; the id is stable.
        "name": customer.get("name") or customer.get("email") or customer["id"],
        "email": customer.get("email") or "",
        "phone": customer.get("phone") or "",
        "is_company": True,
        "ref": customer["id"],
        "street": address.get("line1") or "",
        "street2": address.get("line2") or "",
        "city": address.get("city") or "",
        "zip": address.get("postal_code") or "",
        # Odoo ships every country under the external id base.<iso code>.
        "country_id/id": f"base.{country}" if country else "",
    }


@handles(
    "stripe",
    "customer.created",
    "customer.updated",
    lock=customer_lock,
    queue="realtime",
)
def sync_customer(ctx: SyncContext, event: Event) -> None:
    """Create or update the partner of a Stripe customer."""
    customer = event.object
    customer_id = str(customer["id"])
    if ctx.is_stale("stripe", "customer", customer_id, event.created):
        raise Skip("stale: a newer state of this customer was applied already")

    values = partner_values(customer)
    values_hash = digest(values)
    version = ctx.version("stripe", "customer", customer_id)
    xref = ctx.xref("stripe", "customer", customer_id)
    if version and xref and xref.odoo_id and version.values_hash == values_hash:
        ctx.set_version(
            "stripe",
            "customer",
            customer_id,
            source_ts=max(event.created, version.source_ts),
            values_hash=values_hash,
        )
        raise Skip("unchanged: the partner already holds these values")

    xmlid = qualified(external_id("stripe", "customer", customer_id))
    partner_id = ctx.odoo.load_record("res.partner", xmlid, values)
    ctx.audit(
        system="odoo",
        model="res.partner",
        record_id=partner_id,
        operation="update" if xref and xref.odoo_id else "create",
        fields=[name.split("/")[0] for name in values],
    )
    ctx.link(
        "stripe", "customer", customer_id, odoo_model="res.partner", odoo_id=partner_id
    )
    ctx.set_version(
        "stripe",
        "customer",
        customer_id,
        source_ts=event.created,
        values_hash=values_hash,
    )
