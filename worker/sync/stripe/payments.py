"""Money received in Stripe becomes a payment on the invoice in the Stripe journal.

A payment is registered with Odoo's payment wizard (``account.payment.register``),
partial payments included, and keyed by the Stripe PaymentIntent (or charge): the
invoice, its invoice_payment, the charge and the PaymentIntent all describe the same
money, and whichever arrives first registers it, once.
"""

from __future__ import annotations

from datetime import date

from worker.errors import PrerequisiteMissing
from worker.money import to_amount
from worker.stripe_api import stripe_api
from worker.sync.context import Event, Skip, SyncContext
from worker.sync.registry import handles
from worker.sync.stripe.keys import stripe_lock
from worker.sync.stripe.shapes import PaymentView, invoice_view, payment_view


def posted_invoice(ctx: SyncContext, invoice_id: str) -> int:
    """The posted Odoo move of a Stripe invoice, fetched from Stripe if need be."""
    from worker.sync.stripe.invoices import MOVE_STATES, ensure_invoice

    xref = ctx.xref("stripe", "invoice", invoice_id)
    if xref is not None:
        ctx.account_id = xref.account_id
    if ctx.settled_state(xref, MOVE_STATES) == "posted" and xref and xref.odoo_id:
        return int(xref.odoo_id)
    api = stripe_api(ctx.runtime.settings)
    if api is None:
        raise PrerequisiteMissing(
            f"waiting for stripe invoice {invoice_id} to be finalized",
            key=f"stripe:invoice:{invoice_id}",
            delay=2,
        )
    obj = api.get(f"/v1/invoices/{invoice_id}")
    move_id = ensure_invoice(ctx, invoice_view(obj), int(obj.get("created") or 0))
    xref = ctx.xref("stripe", "invoice", invoice_id)
    if xref is not None:
        ctx.account_id = xref.account_id
    if xref is None or xref.state != "posted":
        raise PrerequisiteMissing(
            f"stripe invoice {invoice_id} is not finalized yet",
            key=f"stripe:invoice:{invoice_id}",
        )
    return move_id


def register_payment(ctx: SyncContext, payment: PaymentView) -> int:
    """Register ``payment`` against its invoice once; return the account.payment id."""
    existing = ctx.xref("stripe", "payment", payment.key)
    if existing is not None and existing.odoo_id:
        # What follows (clearing dunning) works on the payment's account.
        ctx.account_id = existing.account_id or ctx.account_id
        return int(existing.odoo_id)
    if payment.invoice is None:
        raise Skip("payment not tied to an invoice: nothing to register in Odoo")
    move_id = posted_invoice(ctx, payment.invoice)

    payment_id = run_payment_wizard(
        ctx,
        move_id,
        amount=payment.amount,
        currency=payment.currency,
        memo=payment.key,
        note=f"payment of invoice move {move_id}",
    )
    return _record(ctx, payment, payment_id)


def run_payment_wizard(
    ctx: SyncContext, move_id: int, *, amount: int, currency: str, memo: str, note: str
) -> int:
    """Register ``amount`` against the move in the Stripe journal; return the payment.

    The wizard pays an invoice (inbound) or a credit note (outbound) alike. ``memo``
    is the Stripe id: a payment an earlier attempt made before it could record it
    is found by it first, so the money is never registered twice. Looked up on
    every registration, not only on a retry of the same event: the invoice, its
    invoice_payment, the charge and the PaymentIntent report the same money, and
    the next of them to arrive after a cut-off attempt is on its first attempt.
    """
    found = ctx.odoo.search_read(
        "account.payment", [("memo", "=", memo)], ["id"], limit=1
    )
    if found:
        ctx.adopt("account.payment", int(found[0]["id"]), f"found by memo {memo}")
        return int(found[0]["id"])
    context = {"active_model": "account.move", "active_ids": [move_id]}
    wizard = ctx.odoo.call(
        "account.payment.register",
        "create",
        {
            "journal_id": ctx.catalog.journal(ctx.mapping.stripe_journal),
            "amount": to_amount(amount, currency),
            "payment_date": date.today().isoformat(),
            "communication": memo,
            # A partial payment leaves the rest due instead of writing it off.
            "payment_difference_handling": "open",
        },
        context=context,
    )
    action = ctx.odoo.call(
        "account.payment.register", "action_create_payments", [wizard], context=context
    )
    payment_id = int(action["res_id"])
    ctx.audit(
        system="odoo",
        model="account.payment",
        record_id=payment_id,
        operation="create",
        fields=["amount", "journal_id", "memo"],
        note=note,
    )
    return payment_id


def _record(ctx: SyncContext, payment: PaymentView, payment_id: int) -> int:
    ctx.landed.add(f"stripe:payment:{payment.key}")
    ctx.link(
        "stripe",
        "payment",
        payment.key,
        odoo_model="account.payment",
        odoo_id=payment_id,
        account_id=ctx.account_id,
        parent_id=payment.invoice,
        state="paid",
    )
    return payment_id


@handles(
    "stripe",
    "invoice_payment.paid",
    "charge.succeeded",
    "payment_intent.succeeded",
    lock=stripe_lock,
    queue="realtime",
)
def sync_payment(ctx: SyncContext, event: Event) -> None:
    """Register the payment an invoice_payment, charge or PaymentIntent reports."""
    payment = payment_view(event.object)
    if payment is None:
        raise Skip("not a settled payment")
    register_payment(ctx, payment)
    from worker.sync.stripe.invoices import clear_dunning

    if payment.invoice is not None:
        clear_dunning(ctx, payment.invoice)


@handles(
    "stripe",
    "payment_intent.payment_failed",
    lock=stripe_lock,
    queue="realtime",
)
def note_failed_payment_intent(ctx: SyncContext, event: Event) -> None:
    """Dunning follows the invoice (invoice.payment_failed), which names the
    attempt and the invoice; a failed PaymentIntent alone changes nothing in Odoo."""
    raise Skip("dunning is booked from invoice.payment_failed")
