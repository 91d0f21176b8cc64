"""A Stripe invoice becomes an Odoo customer invoice (``account.move``, out_invoice).

The move is created under its external id with ``load`` (header only), its lines are
written with a replace command while it is a draft, and it is posted when Stripe
finalizes the invoice. Odoo appends lines when ``load`` runs twice and refuses to
touch a posted move, so the lines are written only while the move is a draft, and
what revsync did last (draft, posted, cancelled) is kept on the cross-reference.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from worker.errors import PermanentError, PrerequisiteMissing
from worker.money import display, iso, to_amount
from worker.odoo.client import external_id, qualified
from worker.sync.context import Event, Skip, SyncContext, digest
from worker.sync.registry import handles
from worker.sync.stripe.activities import OPENING, close_activity, open_activity
from worker.sync.stripe.keys import stripe_lock
from worker.sync.stripe.partners import ensure_partner, set_dunning_tag
from worker.sync.stripe.payments import register_payment
from worker.sync.stripe.shapes import InvoiceView, invoice_view, payment_view

POSTED_STATUSES = ("open", "paid", "uncollectible")


def invoice_xmlid(invoice_id: str) -> str:
    return qualified(external_id("stripe", "invoice", invoice_id))


def _date(stamp: int | None) -> str:
    moment = datetime.fromtimestamp(stamp or 0, UTC)
    return moment.date().isoformat()


def header_values(
    ctx: SyncContext, view: InvoiceView, partner_id: int
) -> dict[str, Any]:
    currency = ctx.mapping.check_currency(iso(view.currency))
    values: dict[str, Any] = {
        "move_type": "out_invoice",
        "partner_id/.id": partner_id,
        "currency_id/.id": ctx.catalog.currency(currency),
        "journal_id/.id": ctx.catalog.journal(ctx.mapping.sales_journal),
        "ref": view.number or view.id,
        # The Stripe id, so reconciliation can find the move in one batched read.
        "payment_reference": view.id,
        "invoice_origin": view.subscription or "Stripe",
        "invoice_date": _date(view.created),
    }
    if view.due_date:
        values["invoice_date_due"] = _date(view.due_date)
    return values


def line_commands(ctx: SyncContext, view: InvoiceView) -> list[Any]:
    """Replace the move's lines with Stripe's, taxes set explicitly on every line.

    Setting ``tax_ids`` on every line matters: Odoo would otherwise apply the
    product's default sale tax and the total would no longer be Stripe's.

    A discounted line is booked at the price Stripe charges after its discounts,
    with the discount named in its label. Stripe taxes each line on that
    discounted amount and rounds per line, and so does Odoo with this price. The
    alternatives drift by a cent: Odoo stores a ``discount`` percentage with two
    decimals (25.5 % of 19.99 is not a whole cent), and a negative discount line
    taxed like its line rounds its own tax (19 % of 10.03 rounds to 1.91 and of
    -0.02 to -0.00, where Stripe taxes the 10.01 left at 1.90). Revenue is then
    net of discounts, as it is with Odoo's own ``discount`` field.
    """
    commands: list[Any] = [(5, 0, 0)]
    for line in view.lines:
        code = ctx.mapping.product_for(line.price_id, line.product_id)
        label = line.description or code
        if line.discounts:
            amount = line.discounted
            exact = amount % line.quantity == 0
            discount = line.amount - amount
            label = f"{label} (less {display(discount, view.currency)} discount)"
        else:
            amount = line.amount
            exact = (
                line.unit_amount is not None
                and line.unit_amount * line.quantity == line.amount
            )
        quantity = line.quantity if exact else 1
        unit = amount // line.quantity if exact else amount
        tax_names = [
            ctx.mapping.taxes[rate]
            for rate in line.tax_rate_ids
            if rate in ctx.mapping.taxes
        ]
        commands.append(
            (
                0,
                0,
                {
                    "product_id": ctx.catalog.product(code),
                    "name": label,
                    "quantity": quantity,
                    "price_unit": to_amount(unit, view.currency),
                    "tax_ids": [(6, 0, ctx.catalog.taxes(tax_names))],
                },
            )
        )
    return commands


def check_discounts(view: InvoiceView) -> None:
    """Refuse an invoice whose discounts its lines do not account for.

    Discounts are booked line by line, so lines sharing out less (or more) than
    the invoice's discount total would give Odoo another total than Stripe's.

    :raises PermanentError: the lines and the invoice disagree.
    """
    on_lines = sum(amount for line in view.lines for _, amount in line.discounts)
    on_invoice = sum(amount for _, amount in view.discounts)
    if view.lines_complete and on_lines != on_invoice:
        raise PermanentError(
            f"Stripe invoice {view.id}: its lines carry discounts of "
            f"{display(on_lines, view.currency)}, the invoice "
            f"{display(on_invoice, view.currency)}; not booked"
        )


# Odoo's states of a move in the words the cross-references use.
MOVE_STATES = {"draft": "draft", "posted": "posted", "cancel": "cancelled"}


def ensure_invoice(ctx: SyncContext, view: InvoiceView, source_ts: int) -> int:
    """Bring the Odoo move of ``view`` to Stripe's state; return the move id."""
    check_discounts(view)
    partner_id = ensure_partner(
        ctx,
        view.customer,
        known={
            "name": view.customer_name,
            "email": view.customer_email,
            "address": {"country": view.customer_country},
        },
    )
    xmlid = invoice_xmlid(view.id)
    xref = ctx.xref("stripe", "invoice", view.id)
    move_id = int(xref.odoo_id) if xref and xref.odoo_id else None
    state = ctx.settled_state(xref, MOVE_STATES)

    if move_id is None:
        # An earlier attempt may have created (even posted) the move before failing.
        move_id, state = ctx.recover("account.move", xmlid)

    if move_id is None:
        values = header_values(ctx, view, partner_id)
        move_id = ctx.odoo.load_record("account.move", xmlid, values)
        state = "draft"
        ctx.audit(
            system="odoo",
            model="account.move",
            record_id=move_id,
            operation="create",
            fields=[name.split("/")[0] for name in values],
        )
        ctx.link(
            "stripe",
            "invoice",
            view.id,
            odoo_model="account.move",
            odoo_id=move_id,
            account_id=ctx.account_id,
            parent_id=view.subscription,
            state=state,
        )

    if state == "draft":
        commands = line_commands(ctx, view)
        # Stripe numbers an invoice when it finalizes it, after the draft exists.
        reference = view.number or view.id
        lines_hash = digest({"lines": commands, "ref": reference})
        version = ctx.version("stripe", "invoice_lines", view.id)
        if version is None or version.values_hash != lines_hash:
            ctx.odoo.call(
                "account.move",
                "write",
                [move_id],
                {"invoice_line_ids": commands, "ref": reference},
            )
            ctx.audit(
                system="odoo",
                model="account.move",
                record_id=move_id,
                operation="write",
                fields=["invoice_line_ids", "ref"],
            )
            ctx.set_version(
                "stripe",
                "invoice_lines",
                view.id,
                source_ts=source_ts,
                values_hash=lines_hash,
            )

    if view.status in POSTED_STATUSES and state == "draft":
        ctx.unsettle("stripe", "invoice", view.id)
        ctx.odoo.act("account.move", "action_post", [move_id])
        state = "posted"
        _record_state(ctx, view, move_id, state, "post")
    if state == "posted":
        ctx.landed.add(f"stripe:invoice:{view.id}")

    if view.status == "void" and state in ("draft", "posted"):
        ctx.unsettle("stripe", "invoice", view.id)
        if state == "posted":
            ctx.odoo.act("account.move", "button_draft", [move_id])
        ctx.odoo.act("account.move", "button_cancel", [move_id])
        state = "cancelled"
        _record_state(ctx, view, move_id, state, "cancel")
    return move_id


def _record_state(
    ctx: SyncContext, view: InvoiceView, move_id: int, state: str, operation: str
) -> None:
    ctx.audit(
        system="odoo",
        model="account.move",
        record_id=move_id,
        operation=operation,
        fields=["state"],
    )
    ctx.link(
        "stripe",
        "invoice",
        view.id,
        odoo_model="account.move",
        odoo_id=move_id,
        account_id=ctx.account_id,
        state=state,
    )


@handles(
    "stripe",
    "invoice.created",
    "invoice.updated",
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.voided",
    "invoice.marked_uncollectible",
    lock=stripe_lock,
    queue="realtime",
)
def sync_invoice(ctx: SyncContext, event: Event) -> None:
    """Create, fill, post, pay or cancel the Odoo invoice of a Stripe invoice."""
    view = invoice_view(event.object)
    stale = ctx.is_stale("stripe", "invoice", view.id, event.created, view.rank)
    payment = payment_view(event.object)
    if stale and payment is None:
        raise Skip("stale: a newer state of this invoice was applied already")

    if not stale:
        move_id = ensure_invoice(ctx, view, event.created)
        ctx.set_version(
            "stripe",
            "invoice",
            view.id,
            source_ts=event.created,
            rank=view.rank,
            status=view.status,
        )
    else:
        xref = ctx.xref("stripe", "invoice", view.id)
        if xref is None or not xref.odoo_id:
            raise PrerequisiteMissing(
                f"waiting for stripe invoice {view.id}",
                key=f"stripe:invoice:{view.id}",
                delay=2,
            )
        move_id = int(xref.odoo_id)

    if payment is not None:
        register_payment(ctx, payment)
    if view.status == "paid":
        clear_dunning(ctx, view.id)
    if view.status in ("paid", "void"):
        close_activity(ctx, f"uncollectible:{view.id}", f"invoice {view.status}")
    if view.status == "uncollectible" and not stale:
        open_activity(
            ctx,
            f"uncollectible:{view.id}",
            model="account.move",
            res_id=move_id,
            summary="Stripe marked this invoice uncollectible: decide the write-off",
        )


def clear_dunning(ctx: SyncContext, invoice_id: str) -> None:
    """The invoice is paid: close its collections follow-up and, when it was the
    account's last one, take the dunning tag away."""
    ctx.set_version(
        "stripe", "dunning", invoice_id, source_ts=ctx.event.created, status="cleared"
    )
    key = f"dunning:{invoice_id}"
    follow_up = ctx.xref("stripe", "activity", key)
    if follow_up is not None and follow_up.state in ("open", OPENING):
        # Recorded first: an attempt cut off after closing the follow-up and
        # before taking the tag away leaves the retry this to finish.
        ctx.set_version(
            "stripe", "dunning_clearing", invoice_id, source_ts=0, status="clearing"
        )
        close_activity(ctx, key, "paid in Stripe")
    else:
        clearing = ctx.version("stripe", "dunning_clearing", invoice_id)
        if clearing is None or clearing.status != "clearing":
            return
    if ctx.account_id is None:
        # Left "clearing": the next event of the invoice finishes it.
        return
    if not ctx.open_activities("dunning:"):
        customer = ctx.xref_of_account("stripe", "customer")
        if customer is not None and customer.odoo_id:
            set_dunning_tag(ctx, int(customer.odoo_id), on=False)
    ctx.set_version(
        "stripe", "dunning_clearing", invoice_id, source_ts=0, status="cleared"
    )


@handles(
    "stripe",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    lock=stripe_lock,
    queue="realtime",
)
def sync_failed_payment(ctx: SyncContext, event: Event) -> None:
    """A failed attempt: the invoice as Stripe shows it, a dunning tag on the
    partner and one collections follow-up per invoice until it is paid."""
    view = invoice_view(event.object)
    if not ctx.is_stale("stripe", "invoice", view.id, event.created, view.rank):
        ensure_invoice(ctx, view, event.created)
        ctx.set_version(
            "stripe",
            "invoice",
            view.id,
            source_ts=event.created,
            rank=view.rank,
            status=view.status,
        )
    else:
        ensure_partner(ctx, view.customer)

    dunning = ctx.version("stripe", "dunning", view.id)
    if view.status == "paid" or (
        dunning is not None
        and dunning.status == "cleared"
        and dunning.source_ts >= event.created
    ):
        raise Skip("the invoice was paid after this failure")

    partner_id = ensure_partner(ctx, view.customer)
    action = event.type == "invoice.payment_action_required"
    summary = (
        "Collections: customer action required to pay"
        if action
        else ctx.mapping.collections_summary
    )
    open_activity(
        ctx,
        f"dunning:{view.id}",
        model="res.partner",
        res_id=partner_id,
        summary=summary,
    )
    set_dunning_tag(ctx, partner_id, on=True)
    ctx.set_version(
        "stripe", "dunning", view.id, source_ts=event.created, status="open"
    )
