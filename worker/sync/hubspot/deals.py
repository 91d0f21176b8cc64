"""A won HubSpot deal becomes a customer in Odoo and a quotation for its lines.

Webhook events are only signals: HubSpot delivers them late, twice and out of
order, so the handler reads the deal's current state from the API every time.
When the deal is won (by its pipeline's stage definition), its primary company
becomes an account and partner (``companies.ensure_company``) and its line items a
draft ``sale.order`` under ``revsync.hubspot_deal_<id>``. The quotation is
confirmed once the contract-approval gate of the mapping file holds; until then
it stays a draft, and the deal's next change (the approval property, normally)
confirms it.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import structlog

from worker.errors import PermanentError, PrerequisiteMissing
from worker.hubspot_api import DEAL_PROPERTIES, HubSpotAPI, NotFound
from worker.odoo.client import external_id, qualified
from worker.runtime import Runtime
from worker.sync.context import Event, Skip, SyncContext, digest
from worker.sync.gates import contract_approved
from worker.sync.hubspot.companies import ensure_company, require_api
from worker.sync.hubspot.stages import deal_is_won
from worker.sync.registry import handles

log = structlog.get_logger(__name__)

# Deal properties whose change can make a deal won (or approved).
STAGE_PROPERTIES = frozenset({"dealstage", "pipeline", "hs_is_closed_won"})
ASSOCIATIONS = frozenset({"DEAL_TO_COMPANY", "DEAL_TO_LINE_ITEM"})


def deal_id_of(payload: dict[str, Any]) -> str:
    """The deal an event is about: ``objectId``, or ``fromObjectId`` for
    association events, which carry no ``objectId``."""
    value = payload.get("objectId") or payload.get("fromObjectId")
    return str(value or "")


def deal_lock(runtime: Runtime, event: Event) -> str:
    return f"hubspot:deal:{deal_id_of(event.payload)}"


def order_xmlid(deal_id: str) -> str:
    return qualified(external_id("hubspot", "deal", deal_id))


@handles(
    "hubspot",
    "deal.creation",
    "deal.propertyChange",
    "deal.associationChange",
    "deal.restore",
    lock=deal_lock,
    queue="realtime",
)
def sync_deal(ctx: SyncContext, event: Event) -> None:
    """Turn a won deal into a partner and a quotation, confirmed when approved."""
    payload = event.payload
    deal_id = deal_id_of(payload)
    if not deal_id:
        raise Skip("deal event names no deal")
    _check_relevant(ctx, event)

    api = require_api(ctx)
    approval = ctx.mapping.gates.contract_approval
    names = [*DEAL_PROPERTIES, *([approval.property] if approval else [])]
    try:
        deal = api.deal(deal_id, names)
    except NotFound:
        raise Skip(f"hubspot deal {deal_id} no longer exists") from None
    properties = deal.get("properties") or {}
    if not _is_won(api, properties):
        raise Skip(f"hubspot deal {deal_id} is not in a won stage")

    company_id = api.primary_company_id(deal)
    if company_id is None:
        # The company association arrives as an event of the same deal, which
        # runs under the same lock key and wakes this one.
        raise PrerequisiteMissing(
            f"waiting for hubspot deal {deal_id} to have a company",
            key=f"hubspot:deal:{deal_id}",
            delay=30,
        )
    # The lines are mapped before anything is written: a deal revsync cannot
    # map (an unknown SKU, a currency not enabled) leaves Odoo as it was.
    known = ctx.xref("hubspot", "deal", deal_id)
    lines = None if known and known.state != "draft" else _wanted_lines(ctx, api, deal)
    partner_id = ensure_company(ctx, company_id, api)
    order_id, state = _ensure_quotation(ctx, deal, partner_id, lines)

    if state == "draft" and contract_approved(ctx.mapping, properties):
        ctx.odoo.act("sale.order", "action_confirm", [order_id])
        state = "sale"
        ctx.audit(
            system="odoo",
            model="sale.order",
            record_id=order_id,
            operation="confirm",
            fields=["state"],
            note=f"hubspot deal {deal_id} won and approved",
        )
    elif state == "draft":
        log.info("hubspot.deal.awaiting_approval", deal_id=deal_id, order_id=order_id)
    _link(ctx, deal_id, company_id, order_id, state)
    ctx.landed.add(f"hubspot:deal:{deal_id}")


def _check_relevant(ctx: SyncContext, event: Event) -> None:
    """Skip the changes that cannot make a deal won or approved."""
    payload = event.payload
    if event.type == "deal.propertyChange":
        name = str(payload.get("propertyName") or "")
        approval = ctx.mapping.gates.contract_approval
        relevant = STAGE_PROPERTIES | ({approval.property} if approval else set())
        if name not in relevant:
            raise Skip(f"deal property {name or '-'} does not affect the order")
    elif event.type == "deal.associationChange":
        if payload.get("associationType") not in ASSOCIATIONS:
            raise Skip("association does not affect the order")


def _is_won(api: HubSpotAPI, properties: dict[str, Any]) -> bool:
    won = deal_is_won(properties, api.deal_pipelines())
    if won is None:
        # A stage created since the pipelines were cached.
        won = deal_is_won(properties, api.deal_pipelines(refresh=True))
    return bool(won)


def _wanted_lines(
    ctx: SyncContext, api: HubSpotAPI, deal: dict[str, Any]
) -> list[dict[str, Any]]:
    """The sale.order.line values of the deal's line items, currency checked."""
    code = str((deal.get("properties") or {}).get("deal_currency_code") or "")
    # Known gap: the order takes the company's currency (no pricelist per
    # currency is chosen), as Stripe subscription orders do; the deal's
    # currency is only checked against the mapping's enabled currencies.
    if code:
        ctx.mapping.check_currency(code.upper())
    items = api.line_items(api.deal_line_item_ids(deal))
    return [_line_values(ctx, item) for item in items]


def _ensure_quotation(
    ctx: SyncContext,
    deal: dict[str, Any],
    partner_id: int,
    lines: list[dict[str, Any]] | None,
) -> tuple[int, str]:
    """The deal's sale order and its state, created as a draft with its lines."""
    deal_id = str(deal["id"])
    xmlid = order_xmlid(deal_id)
    xref = ctx.xref("hubspot", "deal", deal_id)
    order_id = int(xref.odoo_id) if xref and xref.odoo_id else None
    state = (xref.state if xref else None) or "draft"
    if order_id is None:
        order_id, recovered = ctx.recover("sale.order", xmlid)
        state = recovered or "draft"

    if order_id is None:
        values = {
            "partner_id/.id": partner_id,
            "origin": f"HubSpot deal {deal_id}",
        }
        order_id = ctx.odoo.load_record("sale.order", xmlid, values)
        ctx.audit(
            system="odoo",
            model="sale.order",
            record_id=order_id,
            operation="create",
            fields=["partner_id", "origin"],
        )
        _link(ctx, deal_id, None, order_id, "draft")
    if state == "draft" and lines is not None:
        _sync_lines(ctx, deal_id, order_id, lines)
    return order_id, state


def _sync_lines(
    ctx: SyncContext, deal_id: str, order_id: int, wanted: list[dict[str, Any]]
) -> None:
    """Make the draft quotation's lines say what the deal's line items say."""
    lines_hash = digest({"lines": wanted})
    version = ctx.version("hubspot", "deal_lines", deal_id)
    if version is not None and version.values_hash == lines_hash:
        return

    # Only a draft is rewritten, and only by revsync, so its lines are all ours.
    existing = ctx.odoo.read("sale.order", [order_id], ["order_line"])
    old = [int(line) for line in existing[0]["order_line"]] if existing else []
    commands: list[Any] = [(2, line) for line in old]
    commands += [(0, 0, values) for values in wanted]
    ctx.odoo.call("sale.order", "write", [order_id], {"order_line": commands})
    ctx.audit(
        system="odoo",
        model="sale.order",
        record_id=order_id,
        operation="write",
        fields=["order_line"],
    )
    ctx.set_version(
        "hubspot",
        "deal_lines",
        deal_id,
        source_ts=int(ctx.event.payload.get("occurredAt") or 0),
        values_hash=lines_hash,
    )


def _line_values(ctx: SyncContext, item: dict[str, Any]) -> dict[str, Any]:
    """One sale.order.line from a HubSpot line item.

    ``price`` is the unit price and ``discount`` an amount off each unit;
    ``hs_discount_percentage`` becomes the line's discount.
    """
    properties = item.get("properties") or {}
    code = ctx.mapping.hubspot_product_for(
        properties.get("hs_sku"), properties.get("hs_product_id")
    )

    def number(name: str, default: str = "0") -> Decimal:
        value = properties.get(name)
        try:
            return Decimal(str(value)) if value not in (None, "") else Decimal(default)
        except InvalidOperation:
            raise PermanentError(
                f"hubspot line item {item.get('id')}: {name} is not a number"
            ) from None

    return {
        "product_id": ctx.catalog.product(code),
        "name": properties.get("name") or code,
        "product_uom_qty": float(number("quantity", "1")),
        "price_unit": float(number("price") - number("discount")),
        "discount": float(number("hs_discount_percentage")),
        "tax_id": [(6, 0, [])],
    }


def _link(
    ctx: SyncContext,
    deal_id: str,
    company_id: str | None,
    order_id: int,
    state: str,
) -> None:
    ctx.link(
        "hubspot",
        "deal",
        deal_id,
        odoo_model="sale.order",
        odoo_id=order_id,
        account_id=ctx.account_id,
        parent_id=company_id,
        state=state,
    )
