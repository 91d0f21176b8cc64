"""Disputes: a finance follow-up while open, a credit note when lost.

The money a dispute moves (withdrawal, reinstatement, the dispute fee) reaches the
books with the payout's bank entries; here the dispute only tells finance what
happened to the invoice. A lost dispute's credit note reverses the invoice's tax in
proportion, as a refund's does.
"""

from __future__ import annotations

from worker.sync.context import Event, Skip, SyncContext
from worker.sync.registry import handles
from worker.sync.stripe.activities import close_activity, open_activity
from worker.sync.stripe.keys import ref_id, stripe_lock
from worker.sync.stripe.refunds import (
    credit_note,
    invoice_of_payment,
    pay_out,
    refund_lines,
)

LOST = "lost"
CLOSED = ("won", "lost", "warning_closed", "prevented")


@handles(
    "stripe",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
    lock=stripe_lock,
    queue="realtime",
)
def sync_dispute(ctx: SyncContext, event: Event) -> None:
    dispute = event.object
    dispute_id = str(dispute["id"])
    status = str(dispute.get("status") or "")
    if ctx.is_stale("stripe", "dispute", dispute_id, event.created, _rank(status)):
        raise Skip("stale: a newer state of this dispute was applied already")
    invoice_id, invoice_move = invoice_of_payment(
        ctx, ref_id(dispute.get("payment_intent")), ref_id(dispute.get("charge"))
    )
    key = f"dispute:{dispute_id}"

    if status not in CLOSED:
        reason = dispute.get("reason") or "reason unknown"
        open_activity(
            ctx,
            key,
            model="account.move",
            res_id=invoice_move,
            summary=f"{ctx.mapping.dispute_summary} ({reason})",
        )
    else:
        if status == LOST:
            customer = ctx.xref_of_account("stripe", "customer")
            currency = str(dispute.get("currency") or "")
            amount = int(dispute.get("amount") or 0)
            move_id = credit_note(
                ctx,
                kind="dispute",
                key=dispute_id,
                invoice_id=invoice_id,
                invoice_move=invoice_move,
                customer=customer.external_id if customer else "",
                currency=currency,
                lines=lambda: refund_lines(
                    ctx,
                    invoice_move,
                    amount,
                    currency,
                    f"Lost Stripe dispute {dispute_id}",
                ),
                reason="Lost Stripe dispute",
            )
            pay_out(
                ctx, key=dispute_id, move_id=move_id, amount=amount, currency=currency
            )
        close_activity(ctx, key, f"dispute {status}")
    ctx.set_version(
        "stripe",
        "dispute",
        dispute_id,
        source_ts=event.created,
        rank=_rank(status),
        status=status,
    )


def _rank(status: str) -> int:
    return 2 if status in CLOSED else 1
