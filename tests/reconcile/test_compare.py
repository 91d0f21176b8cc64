"""Each kind of mismatch, as one Stripe object against the Odoo records found."""

from __future__ import annotations

from typing import Any

from worker.reconcile.compare import Mismatch, compare
from worker.reconcile.facts import facts_of


def invoice(status: str = "open", total: int = 2000, **extra: Any) -> dict[str, Any]:
    return {
        "id": "in_1",
        "object": "invoice",
        "status": status,
        "total": total,
        "currency": "usd",
        "amount_paid": total if status == "paid" else 0,
        "amount_remaining": 0 if status == "paid" else total,
        **extra,
    }


def move(**values: Any) -> dict[str, Any]:
    row = {
        "id": 7,
        "payment_reference": "in_1",
        "move_type": "out_invoice",
        "state": "posted",
        "payment_state": "not_paid",
        "amount_total": 20.0,
        "currency_id": [1, "USD"],
    }
    row.update(values)
    return row


def payment(**values: Any) -> dict[str, Any]:
    row = {"id": 3, "memo": "pi_1", "state": "paid", "amount": 20.0}
    row["currency_id"] = [1, "USD"]
    row.update(values)
    return row


def check(obj: dict[str, Any], rows: list[dict[str, Any]]) -> list[Mismatch]:
    (fact, *_) = list(facts_of(obj))
    return compare(fact, rows)


def kinds(found: list[Mismatch]) -> list[tuple[str, str]]:
    return [(m.kind, m.action) for m in found]


class TestInvoices:
    def test_agreeing_invoice_has_no_mismatch(self) -> None:
        assert check(invoice(), [move()]) == []

    def test_missing_in_odoo_is_healed_by_the_event_of_its_status(self) -> None:
        (found,) = check(invoice("open"), [])
        assert (found.kind, found.action) == ("missing_in_odoo", "healed")
        assert found.heal_type == "invoice.finalized"

    def test_another_amount_is_an_exception(self) -> None:
        found = check(invoice(total=2500), [move()])
        assert kinds(found) == [("amount", "exception")]
        assert found[0].detail["stripe_amount"] == 25.0
        assert found[0].detail["odoo_amount"] == 20.0

    def test_another_currency_is_an_exception(self) -> None:
        found = check(invoice(), [move(currency_id=[2, "EUR"])])
        assert kinds(found) == [("currency", "exception")]

    def test_paid_in_stripe_unpaid_in_odoo_is_healed(self) -> None:
        (found,) = check(invoice("paid", payment_intent="pi_1"), [move()])
        assert (found.kind, found.action, found.heal_type) == (
            "state",
            "healed",
            "invoice.paid",
        )

    def test_paid_in_odoo_but_owed_in_stripe_is_an_exception(self) -> None:
        found = check(invoice("open"), [move(payment_state="paid")])
        assert kinds(found) == [("state", "exception")]

    def test_void_in_stripe_posted_in_odoo_is_healed(self) -> None:
        (found,) = check(invoice("void"), [move()])
        assert (found.kind, found.heal_type) == ("state", "invoice.voided")

    def test_two_odoo_records_for_one_invoice_are_a_duplicate(self) -> None:
        found = check(invoice(), [move(), move(id=8)])
        assert kinds(found) == [("duplicate", "exception")]
        assert found[0].odoo_ids == [7, 8]

    def test_a_draft_is_not_compared(self) -> None:
        assert list(facts_of(invoice("draft"))) == []


class TestPaymentsRefundsCreditNotes:
    def test_basil_payment_missing_is_healed_by_invoice_payment_paid(self) -> None:
        obj = {
            "id": "inpay_1",
            "object": "invoice_payment",
            "status": "paid",
            "amount_paid": 2000,
            "currency": "usd",
            "invoice": "in_1",
            "payment": {"type": "payment_intent", "payment_intent": "pi_1"},
        }
        (fact,) = list(facts_of(obj))
        assert fact.stripe_id == "pi_1"
        (found,) = compare(fact, [])
        assert (found.kind, found.heal_type) == (
            "missing_in_odoo",
            "invoice_payment.paid",
        )
        assert kinds(compare(fact, [payment(amount=19.0)])) == [("amount", "exception")]
        assert compare(fact, [payment()]) == []

    def test_refund_is_compared_with_its_outbound_payment(self) -> None:
        obj = {
            "id": "re_1",
            "object": "refund",
            "status": "succeeded",
            "amount": 500,
            "currency": "usd",
        }
        (fact,) = list(facts_of(obj))
        assert fact.target.model == "account.payment"
        assert kinds(compare(fact, [])) == [("missing_in_odoo", "healed")]
        assert compare(fact, [payment(memo="re_1", amount=5.0)]) == []
        assert kinds(
            compare(fact, [payment(memo="re_1", amount=5.0, currency_id=[2, "EUR"])])
        ) == [("currency", "exception")]

    def test_failed_refund_states_nothing(self) -> None:
        obj = {"id": "re_2", "object": "refund", "status": "failed", "amount": 5}
        assert list(facts_of(obj)) == []

    def test_voided_credit_note_still_posted_in_odoo_is_healed(self) -> None:
        obj = {
            "id": "cn_1",
            "object": "credit_note",
            "status": "void",
            "total": 300,
            "currency": "usd",
            "invoice": "in_1",
        }
        note = move(payment_reference="cn_1", move_type="out_refund", amount_total=3.0)
        (found,) = check(obj, [note])
        assert (found.kind, found.heal_type) == ("state", "credit_note.voided")
