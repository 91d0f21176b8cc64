"""A Stripe customer becomes one Odoo company partner, under its external id."""

from __future__ import annotations

from typing import Any

from worker.odoo.client import external_id, qualified
from worker.sync.context import Event, Skip, SyncContext, digest
from worker.sync.registry import handles
from worker.sync.stripe.keys import stripe_lock

# Stripe stamps events in whole seconds; a customer created and updated in the same
# second is ordered by what the events mean, never by when they arrive.
CUSTOMER_RANK = {"customer.created": 0, "customer.updated": 1, "customer.deleted": 2}


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
    lock=stripe_lock,
    queue="realtime",
)
def sync_customer(ctx: SyncContext, event: Event) -> None:
    """Create or update the partner of a Stripe customer."""
    customer = event.object
    customer_id = str(customer["id"])
    rank = CUSTOMER_RANK.get(event.type, 0)
    if ctx.is_stale("stripe", "customer", customer_id, event.created, rank):
        raise Skip("stale: a newer state of this customer was applied already")

    from worker.sync.stripe.partners import join_account

    joined = join_account(ctx, customer)
    if joined is not None:
        update_joined_partner(ctx, event, joined, rank)
        return

    values = partner_values(customer)
    if hubspot_owns_name(ctx, customer_id):
        del values["name"]
    values_hash = digest(values)
    version = ctx.version("stripe", "customer", customer_id)
    xref = ctx.xref("stripe", "customer", customer_id)
    if version and xref and xref.odoo_id and version.values_hash == values_hash:
        ctx.set_version(
            "stripe",
            "customer",
            customer_id,
            source_ts=event.created,
            rank=rank,
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
    ctx.landed.add(f"stripe:customer:{customer_id}")
    ctx.set_version(
        "stripe",
        "customer",
        customer_id,
        source_ts=event.created,
        rank=rank,
        values_hash=values_hash,
    )


def hubspot_owns_name(ctx: SyncContext, customer_id: str) -> bool:
    """True when the customer's account is linked to a HubSpot company, which
    then owns the commercial account, its name included."""
    xref = ctx.xref("stripe", "customer", customer_id)
    if xref is None or xref.account_id is None:
        return False
    ctx.account_id = xref.account_id
    return ctx.xref_of_account("hubspot", "company") is not None


def update_joined_partner(
    ctx: SyncContext, event: Event, partner_id: int, rank: int
) -> None:
    """Write a joined customer's billing e-mail onto its account's partner.

    The system that brought the account (HubSpot) owns the rest of the partner:
    name, address, phone; Stripe knows where invoices go.
    """
    customer = event.object
    customer_id = str(customer["id"])
    values = {"email": partner_values(customer)["email"]}
    values_hash = digest(values)
    version = ctx.version("stripe", "customer", customer_id)
    if version is None or version.values_hash != values_hash:
        ctx.odoo.call("res.partner", "write", [partner_id], values)
        ctx.audit(
            system="odoo",
            model="res.partner",
            record_id=partner_id,
            operation="write",
            fields=list(values),
            note=f"billing contact of stripe customer {customer_id}",
        )
    ctx.set_version(
        "stripe",
        "customer",
        customer_id,
        source_ts=event.created,
        rank=rank,
        values_hash=values_hash,
    )


@handles("stripe", "customer.deleted", lock=stripe_lock, queue="default")
def archive_customer(ctx: SyncContext, event: Event) -> None:
    """A deleted Stripe customer archives its partner; its books stay as they are."""
    customer_id = str(event.object["id"])
    xref = ctx.xref("stripe", "customer", customer_id)
    if xref is None or not xref.odoo_id:
        raise Skip("deleted customer was never synced")
    if xref.state == "archived":
        raise Skip("partner already archived")
    ctx.odoo.call("res.partner", "write", [xref.odoo_id], {"active": False})
    ctx.audit(
        system="odoo",
        model="res.partner",
        record_id=xref.odoo_id,
        operation="archive",
        fields=["active"],
    )
    ctx.link(
        "stripe",
        "customer",
        customer_id,
        odoo_model="res.partner",
        odoo_id=xref.odoo_id,
        state="archived",
    )
    ctx.set_version(
        "stripe",
        "customer",
        customer_id,
        source_ts=event.created,
        rank=CUSTOMER_RANK["customer.deleted"],
        status="deleted",
    )


@handles(
    "stripe",
    "customer.tax_id.created",
    "customer.tax_id.updated",
    "customer.tax_id.deleted",
    lock=stripe_lock,
    queue="default",
)
def sync_tax_id(ctx: SyncContext, event: Event) -> None:
    """A customer's VAT number goes onto its partner (and leaves it when deleted)."""
    tax_id = event.object
    if ctx.is_stale("stripe", "tax_id", str(tax_id["id"]), event.created):
        raise Skip("stale: a newer state of this tax id was applied already")
    from worker.sync.stripe.partners import ensure_partner

    partner_id = ensure_partner(ctx, str(tax_id["customer"]))
    deleted = event.type == "customer.tax_id.deleted"
    ctx.odoo.call(
        "res.partner",
        "write",
        [partner_id],
        {"vat": False if deleted else str(tax_id.get("value") or "")},
    )
    ctx.audit(
        system="odoo",
        model="res.partner",
        record_id=partner_id,
        operation="write",
        fields=["vat"],
    )
    ctx.set_version("stripe", "tax_id", str(tax_id["id"]), source_ts=event.created)


@handles(
    "stripe",
    "customer.discount.created",
    "customer.discount.updated",
    "customer.discount.deleted",
    lock=stripe_lock,
    queue="default",
)
def note_discount(ctx: SyncContext, event: Event) -> None:
    raise Skip("discounts reach Odoo as the invoice lines Stripe bills")
