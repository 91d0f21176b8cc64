"""Stripe objects as reconciliation facts, and the lists they are read from."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from worker.reconcile.compare import CREDIT_NOTE, INVOICE, PAYMENT, REFUND, Fact
from worker.sync.stripe.keys import ref_id

# The event type that brings Odoo to an invoice's Stripe status.
INVOICE_EVENTS = {
    "open": "invoice.finalized",
    "paid": "invoice.paid",
    "void": "invoice.voided",
    "uncollectible": "invoice.marked_uncollectible",
}
# What one run lists, with the filters the window adds.
LISTS = ("/v1/invoices", "/v1/credit_notes", "/v1/invoice_payments", "/v1/refunds")


def facts_of(obj: dict[str, Any]) -> Iterator[Fact]:
    """The facts one Stripe object states; drafts and failures state none."""
    kind = obj.get("object")
    if kind == "invoice":
        yield from _invoice(obj)
    elif kind == "credit_note":
        yield from _credit_note(obj)
    elif kind == "invoice_payment":
        yield from _invoice_payment(obj)
    elif kind == "refund":
        yield from _refund(obj)


def _invoice(obj: dict[str, Any]) -> Iterator[Fact]:
    status = str(obj.get("status") or "draft")
    if status not in INVOICE_EVENTS:
        # A draft is not in the books yet.
        return
    invoice_id = str(obj["id"])
    yield Fact(
        target=INVOICE,
        stripe_id=invoice_id,
        amount=int(obj.get("total") or 0),
        currency=str(obj.get("currency") or ""),
        status=status,
        heal_type=INVOICE_EVENTS[status],
        heal_object=obj,
        path=f"/v1/invoices/{invoice_id}",
    )
    # Before basil the invoice names the one payment that settled it.
    key = ref_id(obj.get("payment_intent")) or ref_id(obj.get("charge"))
    if status == "paid" and key and int(obj.get("amount_paid") or 0) > 0:
        yield Fact(
            target=PAYMENT,
            stripe_id=key,
            amount=int(obj["amount_paid"]),
            currency=str(obj.get("currency") or ""),
            status="paid",
            heal_type="invoice.paid",
            heal_object=obj,
            path=f"/v1/invoices/{invoice_id}",
            invoice=invoice_id,
        )


def _credit_note(obj: dict[str, Any]) -> Iterator[Fact]:
    status = str(obj.get("status") or "issued")
    note_id = str(obj["id"])
    yield Fact(
        target=CREDIT_NOTE,
        stripe_id=note_id,
        amount=int(obj.get("total") or 0),
        currency=str(obj.get("currency") or ""),
        status=status,
        heal_type="credit_note.voided" if status == "void" else "credit_note.created",
        heal_object=obj,
        path=f"/v1/credit_notes/{note_id}",
        invoice=ref_id(obj.get("invoice")),
    )


def _invoice_payment(obj: dict[str, Any]) -> Iterator[Fact]:
    if obj.get("status") != "paid":
        return
    payment = obj.get("payment") or {}
    key = ref_id(payment.get("payment_intent")) or ref_id(payment.get("charge"))
    yield Fact(
        target=PAYMENT,
        stripe_id=key or str(obj["id"]),
        amount=int(obj.get("amount_paid") or 0),
        currency=str(obj.get("currency") or ""),
        status="paid",
        heal_type="invoice_payment.paid",
        heal_object=obj,
        path=f"/v1/invoice_payments/{obj['id']}",
        invoice=ref_id(obj.get("invoice")),
    )


def _refund(obj: dict[str, Any]) -> Iterator[Fact]:
    if obj.get("status") != "succeeded":
        return
    refund_id = str(obj["id"])
    yield Fact(
        target=REFUND,
        stripe_id=refund_id,
        amount=int(obj.get("amount") or 0),
        currency=str(obj.get("currency") or ""),
        status="succeeded",
        heal_type="refund.created",
        heal_object=obj,
        path=f"/v1/refunds/{refund_id}",
    )
