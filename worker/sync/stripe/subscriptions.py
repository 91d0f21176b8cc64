"""A Stripe subscription becomes one Odoo sale order, the contract of record.

Odoo Community has no subscription app, so the order carries the subscription: its
``client_order_ref`` is the subscription id, it is confirmed when the subscription
becomes live (trialing or active), its lines follow upgrades and downgrades
(quantity and price; a removed item keeps its line at quantity zero, because Odoo
keeps the lines of a confirmed order), and it is cancelled on churn. The partner's
lifecycle tag follows the subscription's status.
"""

from __future__ import annotations

from typing import Any

from worker.errors import PermanentError
from worker.money import to_amount
from worker.odoo.client import external_id, qualified
from worker.sync.context import Event, Skip, SyncContext, digest
from worker.sync.registry import handles
from worker.sync.stripe.activities import close_activity, open_activity
from worker.sync.stripe.keys import stripe_lock
from worker.sync.stripe.partners import ensure_partner, set_lifecycle_tag
from worker.sync.stripe.shapes import SubscriptionView, subscription_view

LIVE = ("trialing", "active", "past_due", "unpaid", "paused")
ENDED = ("canceled", "incomplete_expired")


def order_xmlid(subscription_id: str) -> str:
    return qualified(external_id("stripe", "subscription", subscription_id))


def item_values(ctx: SyncContext, view: SubscriptionView) -> dict[str, dict[str, Any]]:
    values = {}
    for item in view.items:
        code = ctx.mapping.product_for(item.price_id, item.product_id)
        values[item.id] = {
            "product_id": ctx.catalog.product(code),
            "name": item.description,
            "product_uom_qty": item.quantity,
            "price_unit": to_amount(item.unit_amount, item.currency or view.currency),
            "tax_id": [(6, 0, [])],
        }
    return values


def sync_lines(
    ctx: SyncContext, view: SubscriptionView, order_id: int, new_order: bool = False
) -> None:
    """Make the order's lines say what the subscription's items say.

    ``new_order``: the order was created by this very attempt, so it has no lines.
    """
    wanted = item_values(ctx, view)
    lines_hash = digest(wanted)
    version = ctx.version("stripe", "subscription_lines", view.id)
    if version is not None and version.values_hash == lines_hash:
        return

    known = {
        item_id: ctx.xref("stripe", "subscription_item", item_id)
        for item_id in {*wanted, *_previous_items(version)}
    }
    mine = {int(x.odoo_id) for x in known.values() if x is not None and x.odoo_id}
    unlinked = [item_id for item_id in wanted if item_id not in _linked(known)]
    adopted: dict[str, int] = {}
    if unlinked and not new_order:
        # An earlier attempt may have added these lines and failed before linking
        # them (worker killed, Odoo or the store gone): update those lines rather
        # than add the items a second time.
        strays = sorted(set(_order_lines(ctx, order_id)) - mine)
        adopted = dict(zip(unlinked, strays, strict=False))
    commands: list[Any] = []
    new_items: list[str] = []
    for item_id, vals in wanted.items():
        xref = known.get(item_id)
        if xref is not None and xref.odoo_id:
            commands.append((1, int(xref.odoo_id), vals))
        elif item_id in adopted:
            commands.append((1, adopted[item_id], vals))
        else:
            commands.append((0, 0, vals))
            new_items.append(item_id)
    for item_id, xref in known.items():
        if item_id not in wanted and xref is not None and xref.odoo_id:
            commands.append((1, int(xref.odoo_id), {"product_uom_qty": 0}))

    ctx.odoo.call("sale.order", "write", [order_id], {"order_line": commands})
    ctx.audit(
        system="odoo",
        model="sale.order",
        record_id=order_id,
        operation="write",
        fields=["order_line"],
    )
    for item_id, line_id in adopted.items():
        ctx.link(
            "stripe",
            "subscription_item",
            item_id,
            odoo_model="sale.order.line",
            odoo_id=line_id,
            account_id=ctx.account_id,
            parent_id=view.id,
        )
    if new_items:
        # New lines get ids in the order of the commands that created them; every
        # other line of the order is one revsync already knows.
        mine |= set(adopted.values())
        created = sorted(set(_order_lines(ctx, order_id)) - mine)
        for item_id, line_id in zip(new_items, created, strict=True):
            ctx.link(
                "stripe",
                "subscription_item",
                item_id,
                odoo_model="sale.order.line",
                odoo_id=line_id,
                account_id=ctx.account_id,
                parent_id=view.id,
            )
    ctx.set_version(
        "stripe",
        "subscription_lines",
        view.id,
        source_ts=ctx.event.created,
        status=",".join(sorted(wanted)),
        values_hash=lines_hash,
    )


def _linked(known: dict[str, Any]) -> set[str]:
    return {item for item, xref in known.items() if xref is not None and xref.odoo_id}


def _previous_items(version: Any) -> list[str]:
    if version is None or not version.status:
        return []
    return [item for item in str(version.status).split(",") if item]


def _order_state(ctx: SyncContext, order_id: int) -> str | None:
    rows = ctx.odoo.read("sale.order", [order_id], ["state"])
    return str(rows[0]["state"]) if rows else None


def _order_lines(ctx: SyncContext, order_id: int) -> list[int]:
    rows = ctx.odoo.read("sale.order", [order_id], ["order_line"])
    return [int(line) for line in rows[0]["order_line"]] if rows else []


@handles(
    "stripe",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.trial_will_end",
    lock=stripe_lock,
    queue="realtime",
)
def sync_subscription(ctx: SyncContext, event: Event) -> None:
    """Create, amend, confirm or cancel the sale order of a Stripe subscription."""
    view = subscription_view(event.object)
    if ctx.is_stale("stripe", "subscription", view.id, event.created, view.rank):
        raise Skip("stale: a newer state of this subscription was applied already")

    partner_id = ensure_partner(ctx, view.customer)
    xmlid = order_xmlid(view.id)
    xref = ctx.xref("stripe", "subscription", view.id)
    order_id = int(xref.odoo_id) if xref and xref.odoo_id else None
    state = xref.state if xref else None
    if order_id is None:
        order_id, state = ctx.recover("sale.order", xmlid)

    new_order = order_id is None
    if order_id is None:
        values = {
            "partner_id/.id": partner_id,
            "client_order_ref": view.id,
            "origin": "Stripe",
        }
        order_id = ctx.odoo.load_record("sale.order", xmlid, values)
        state = "draft"
        ctx.audit(
            system="odoo",
            model="sale.order",
            record_id=order_id,
            operation="create",
            fields=["partner_id", "client_order_ref", "origin"],
        )
        _link(ctx, view, order_id, state)

    if state != "cancel":
        sync_lines(ctx, view, order_id, new_order=new_order)

    if view.status in LIVE and state == "draft":
        try:
            ctx.odoo.act("sale.order", "action_confirm", [order_id])
        except PermanentError:
            # An earlier attempt may have confirmed the order and failed before it
            # recorded so: confirmed is what this event wants.
            if _order_state(ctx, order_id) != "sale":
                raise
        state = "sale"
        ctx.audit(
            system="odoo",
            model="sale.order",
            record_id=order_id,
            operation="confirm",
            fields=["state"],
        )
        _link(ctx, view, order_id, state)
    elif view.status in ENDED and state != "cancel":
        ctx.odoo.act(
            "sale.order",
            "action_cancel",
            [order_id],
            context={"disable_cancel_warning": True},
        )
        state = "cancel"
        ctx.audit(
            system="odoo",
            model="sale.order",
            record_id=order_id,
            operation="cancel",
            fields=["state"],
        )
        _link(ctx, view, order_id, state)

    previous = ctx.version("stripe", "subscription", view.id)
    if previous is None or previous.status != view.status:
        set_lifecycle_tag(ctx, partner_id, view.status)
    if view.status != "trialing":
        # The trial is over; its reminder has nothing left to remind of.
        close_activity(ctx, f"trial:{view.id}", f"subscription {view.status}")
    elif event.type == "customer.subscription.trial_will_end":
        open_activity(
            ctx,
            f"trial:{view.id}",
            model="res.partner",
            res_id=partner_id,
            summary="Trial ends in three days: check the payment method",
        )
    ctx.set_version(
        "stripe",
        "subscription",
        view.id,
        source_ts=event.created,
        rank=view.rank,
        status=view.status,
    )


def _link(ctx: SyncContext, view: SubscriptionView, order_id: int, state: str) -> None:
    ctx.link(
        "stripe",
        "subscription",
        view.id,
        odoo_model="sale.order",
        odoo_id=order_id,
        account_id=ctx.account_id,
        parent_id=view.customer,
        state=state,
    )
