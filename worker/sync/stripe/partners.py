"""The partner every Stripe object hangs off, and its lifecycle tag."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from worker.errors import PrerequisiteMissing
from worker.hubspot_api import hubspot_api
from worker.identity import PARTNER_MODEL, account_partner, resolve_stripe_customer
from worker.odoo.client import external_id, qualified
from worker.store import CrossReference
from worker.stripe_api import stripe_api
from worker.sync.context import SyncContext
from worker.sync.stripe.customers import partner_values
from worker.sync.stripe.keys import customer_of


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
        await_contract(ctx)
        return int(xref.odoo_id)
    # A customer of an account another system brought writes to that partner.
    joined = account_partner(ctx, xref.account_id) if xref is not None else None
    if joined is not None:
        ctx.account_id = xref.account_id if xref is not None else None
        await_contract(ctx)
        return joined

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

    joined = join_account(ctx, customer, hint=_same_customer_object(ctx, customer_id))
    if joined is not None:
        await_contract(ctx)
        return joined
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


def join_account(
    ctx: SyncContext, customer: dict[str, Any], *, hint: dict[str, Any] | None = None
) -> int | None:
    """The partner of the account a new Stripe customer joins, or None.

    A customer whose metadata names a HubSpot company (or whose VAT number or
    e-mail domain matches a customer revsync knows, see ``worker.identity``)
    joins that account and bills to its partner; no second partner is made. A
    HubSpot company revsync has not seen yet is read from HubSpot and created
    first. None means the customer is one of its own: new, or already Stripe's.

    :raises HeldError: the identity is ambiguous.
    """
    customer_id = str(customer["id"])
    identity = resolve_stripe_customer(ctx, customer, hint=hint)
    account = identity.account_id
    if account is None and identity.hubspot_company_id is not None:
        company_id = identity.hubspot_company_id
        api = hubspot_api(ctx.runtime.settings)
        if api is None:
            raise PrerequisiteMissing(
                f"waiting for hubspot company {company_id}",
                key=f"hubspot:company:{company_id}",
                delay=30,
            )
        from worker.sync.hubspot.companies import ensure_company

        ensure_company(ctx, company_id, api)
        account = ctx.account_id
    partner = account_partner(ctx, account)
    if partner is None:
        return None
    xref = ctx.xref("stripe", "customer", customer_id)
    if xref is not None and xref.odoo_model == PARTNER_MODEL:
        return None
    ctx.link(
        "stripe",
        "customer",
        customer_id,
        odoo_model=None,
        odoo_id=None,
        account_id=account,
    )
    ctx.landed.add(f"stripe:customer:{customer_id}")
    return partner


def await_contract(ctx: SyncContext) -> None:
    """Make a subscription wait while its account's HubSpot deal awaits approval.

    With ``[gates] contract_approval`` set, a Stripe subscription of an account
    whose won deal is not approved yet waits, and the deal's approval wakes it.

    :raises PrerequisiteMissing: a deal of the account awaits approval.
    """
    if ctx.mapping.gates.contract_approval is None or ctx.account_id is None:
        return
    if not ctx.event.type.startswith("customer.subscription."):
        return
    with ctx.runtime.store.session() as session:
        deal = session.scalar(
            select(CrossReference.external_id)
            .where(
                CrossReference.account_id == ctx.account_id,
                CrossReference.system == "hubspot",
                CrossReference.object_type == "deal",
                CrossReference.state == "draft",
            )
            .order_by(CrossReference.id)
            .limit(1)
        )
    if deal is not None:
        raise PrerequisiteMissing(
            f"waiting for hubspot deal {deal} to be approved",
            key=f"hubspot:deal:{deal}",
            delay=60,
        )


def _same_customer_object(ctx: SyncContext, customer_id: str) -> dict[str, Any] | None:
    """The event's own object when it is the customer's (a subscription whose
    metadata may name the HubSpot company)."""
    if ctx.event.source != "stripe":
        return None
    obj = ctx.event.payload.get("data", {}).get("object")
    if isinstance(obj, dict) and customer_of(obj) == customer_id:
        return obj
    return None


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
