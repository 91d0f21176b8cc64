"""Invoices, payments, credit notes and entries (odoo.md §6, §7, fact 8)."""

from __future__ import annotations

import xmlrpc.client
from typing import Any

import pytest

from .support import TODAY, Odoo, invoice_vals, register_payment

YEAR = TODAY[:4]
AMOUNTS = ["amount_untaxed", "amount_tax", "amount_total", "amount_residual"]


def read(odoo: Odoo, model: str, rid: int, fields: list[str]) -> dict[str, Any]:
    (row,) = odoo.call(model, "read", [rid], fields)
    return row


def posted_invoice(odoo: Odoo, partner: int, price: float = 100.0) -> int:
    move = odoo.call("account.move", "create", invoice_vals(partner, ("Pro", 1, price)))
    odoo.call("account.move", "action_post", [move])
    return move


def test_eur_invoice_amounts_and_lines(odoo: Odoo, customer: int) -> None:
    eur = odoo.ref("base.EUR")
    move = odoo.call(
        "account.move",
        "create",
        {
            **invoice_vals(customer, ("Pro plan", 1, 100.0)),
            "currency_id": eur,
            "ref": "in_1",
            "payment_reference": "in_1",
        },
    )
    odoo.call(
        "account.move",
        "write",
        [move],
        {
            "invoice_line_ids": [
                (
                    0,
                    0,
                    {
                        "name": "3 seats",
                        "quantity": 3,
                        "price_unit": 20.0,
                        "tax_ids": [(6, 0, [])],
                    },
                )
            ]
        },
    )

    row = read(odoo, "account.move", move, [*AMOUNTS, "amount_total_signed", "name"])
    lines = odoo.call(
        "account.move.line",
        "search_read",
        [("move_id", "=", move)],
        ["display_type", "account_id", "name", "amount_currency", "debit"],
    )

    assert row["name"] is False
    assert [row[f] for f in AMOUNTS] == [160.0, 15.0, 175.0, 175.0]
    assert row["amount_total_signed"] == 190.22  # USD at 0.92 EUR per USD
    kinds = sorted(line["display_type"] for line in lines)
    assert kinds == ["payment_term", "product", "product", "tax"]
    term = next(line for line in lines if line["display_type"] == "payment_term")
    assert term["account_id"][1] == "121000 Account Receivable"
    assert term["name"] == "in_1"
    assert (term["amount_currency"], term["debit"]) == (175.0, 190.22)


def test_post_returns_false_and_names_the_invoice(odoo: Odoo, customer: int) -> None:
    move = odoo.call("account.move", "create", invoice_vals(customer, ("Pro", 1, 100)))

    assert odoo.call("account.move", "action_post", [move]) is False

    row = read(odoo, "account.move", move, ["name", "state", "payment_state"])
    assert row == {
        "id": move,
        "name": f"INV/{YEAR}/00001",
        "state": "posted",
        "payment_state": "not_paid",
    }
    assert read(odoo, "res.partner", customer, ["customer_rank"])["customer_rank"] == 1


def test_posting_twice_needs_a_draft(odoo: Odoo, customer: int) -> None:
    move = posted_invoice(odoo, customer)

    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("account.move", "action_post", [move])

    assert caught.value.faultCode == (
        f"warning -- UserError\n\nThe entry INV/{YEAR}/00001 (id {move}) must be in "
        "draft."
    )


def test_posting_without_lines_is_refused(odoo: Odoo, customer: int) -> None:
    move = odoo.call("account.move", "create", invoice_vals(customer))

    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.v2("account.move", "action_post", [move])

    assert caught.value.faultCode == 2
    assert caught.value.faultString == "You need to add a line before posting."


def test_posted_move_refuses_new_lines(odoo: Odoo, customer: int) -> None:
    move = posted_invoice(odoo, customer)

    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("account.move", "write", [move], {"invoice_line_ids": [(5, 0, 0)]})

    assert caught.value.faultCode == (
        "warning -- UserError\n\nYou cannot modify the following readonly fields "
        "on a posted move: invoice_line_ids"
    )
    odoo.call("account.move", "write", [move], {"narration": "still writable"})


def test_draft_lines_can_be_replaced(odoo: Odoo, customer: int) -> None:
    move = odoo.call("account.move", "create", invoice_vals(customer, ("a", 1, 10)))

    odoo.call(
        "account.move",
        "write",
        [move],
        {"invoice_line_ids": [(5, 0, 0), (0, 0, {"name": "b", "price_unit": 50.0})]},
    )

    row = read(odoo, "account.move", move, ["invoice_line_ids", "amount_total"])
    assert len(row["invoice_line_ids"]) == 1
    assert row["amount_total"] == 57.5


def test_full_payment_makes_the_invoice_paid(odoo: Odoo, customer: int) -> None:
    move = posted_invoice(odoo, customer)

    action = register_payment(odoo, move, payment_date=TODAY, communication="ch_1")

    assert action["res_model"] == "account.payment"
    assert action["view_mode"] == "form"
    payment = read(
        odoo,
        "account.payment",
        action["res_id"],
        [
            "name",
            "state",
            "memo",
            "is_reconciled",
            "is_matched",
            "outstanding_account_id",
            "reconciled_invoice_ids",
        ],
    )
    assert payment["name"] == f"PSTRP/{YEAR}/00001"
    assert payment["state"] == "paid"
    assert payment["memo"] == "ch_1"
    assert (payment["is_reconciled"], payment["is_matched"]) == (True, False)
    assert payment["outstanding_account_id"][1] == "101403 Outstanding Receipts"
    assert payment["reconciled_invoice_ids"] == [move]
    row = read(odoo, "account.move", move, ["payment_state", "amount_residual"])
    assert (row["payment_state"], row["amount_residual"]) == ("paid", 0.0)


def test_partial_payment_leaves_the_rest_due(odoo: Odoo, customer: int) -> None:
    move = posted_invoice(odoo, customer)
    context = {"active_model": "account.move", "active_ids": [move]}
    wizard = odoo.call(
        "account.payment.register",
        "create",
        {
            "journal_id": odoo.journal("STRP"),
            "amount": 40.0,
            "payment_difference_handling": "open",
        },
        context=context,
    )
    assert (
        read(odoo, "account.payment.register", wizard, ["payment_difference"])[
            "payment_difference"
        ]
        == 75.0
    )

    first = odoo.call(
        "account.payment.register", "action_create_payments", [wizard], context=context
    )

    row = read(odoo, "account.move", move, ["payment_state", "amount_residual"])
    assert (row["payment_state"], row["amount_residual"]) == ("partial", 75.0)
    assert read(odoo, "account.payment", first["res_id"], ["state"])["state"] == (
        "in_process"
    )
    register_payment(odoo, move)
    row = read(odoo, "account.move", move, ["payment_state", "amount_residual"])
    assert (row["payment_state"], row["amount_residual"]) == ("paid", 0.0)
    assert read(odoo, "account.payment", first["res_id"], ["state"])["state"] == "paid"


def test_payment_on_a_draft_has_nothing_to_pay(odoo: Odoo, customer: int) -> None:
    move = odoo.call("account.move", "create", invoice_vals(customer, ("a", 1, 10)))

    with pytest.raises(xmlrpc.client.Fault) as caught:
        register_payment(odoo, move)

    assert caught.value.faultCode == (
        "warning -- UserError\n\nYou can't register a payment because there is "
        "nothing left to pay on the selected journal items."
    )


def test_reversal_wizard_needs_an_explicit_journal(odoo: Odoo, customer: int) -> None:
    move = posted_invoice(odoo, customer)

    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call(
            "account.move.reversal",
            "create",
            {"reason": "refund", "date": TODAY},
            context={"active_model": "account.move", "active_ids": [move]},
        )

    assert "a mandatory field is not set" in caught.value.faultCode
    assert caught.value.faultCode.endswith(
        "Model: Account Move Reversal (account.move.reversal)\n"
        "Field: Journal (journal_id)\n"
    )


def refund(odoo: Odoo, move: int, method: str = "refund_moves") -> dict[str, Any]:
    context = {"active_model": "account.move", "active_ids": [move]}
    wizard = odoo.call(
        "account.move.reversal",
        "create",
        {
            "reason": "Stripe refund re_1",
            "date": TODAY,
            "journal_id": odoo.journal("INV"),
        },
        context=context,
    )
    return odoo.call("account.move.reversal", method, [wizard], context=context)


def test_credit_note_of_a_paid_invoice_needs_a_refund_payment(
    odoo: Odoo, customer: int
) -> None:
    move = posted_invoice(odoo, customer)
    register_payment(odoo, move)

    action = refund(odoo, move)
    credit_note = action["res_id"]
    draft = read(
        odoo,
        "account.move",
        credit_note,
        ["name", "state", "move_type", "reversed_entry_id", "ref", "payment_reference"],
    )
    odoo.call("account.move", "action_post", [credit_note])
    posted = read(odoo, "account.move", credit_note, ["name", "payment_state"])
    refund_payment = register_payment(odoo, credit_note)

    assert action["context"] == {"default_move_type": "out_refund"}
    assert draft["name"] is False and draft["state"] == "draft"
    assert draft["move_type"] == "out_refund"
    assert draft["reversed_entry_id"][0] == move
    assert draft["ref"] == f"Reversal of: INV/{YEAR}/00001, Stripe refund re_1"
    assert draft["payment_reference"] is False
    assert posted == {
        "id": credit_note,
        "name": f"RINV/{YEAR}/00001",
        "payment_state": "not_paid",
    }
    payment = read(
        odoo,
        "account.payment",
        refund_payment["res_id"],
        ["payment_type", "state", "outstanding_account_id"],
    )
    assert payment["payment_type"] == "outbound"
    assert payment["state"] == "paid"
    assert payment["outstanding_account_id"][1] == "101404 Outstanding Payments"
    rows = odoo.call(
        "account.move",
        "read",
        [move, credit_note],
        ["payment_state", "amount_residual"],
    )
    assert [(r["payment_state"], r["amount_residual"]) for r in rows] == [
        ("paid", 0.0),
        ("paid", 0.0),
    ]


def test_credit_note_of_an_unpaid_invoice_reverses_it(
    odoo: Odoo, customer: int
) -> None:
    move = posted_invoice(odoo, customer)
    credit_note = refund(odoo, move)["res_id"]

    odoo.call("account.move", "action_post", [credit_note])

    rows = odoo.call(
        "account.move",
        "read",
        [move, credit_note],
        ["payment_state", "amount_residual"],
    )
    assert [(r["payment_state"], r["amount_residual"]) for r in rows] == [
        ("reversed", 0.0),
        ("paid", 0.0),
    ]


def test_modify_moves_returns_a_new_draft_invoice(odoo: Odoo, customer: int) -> None:
    move = posted_invoice(odoo, customer)

    action = refund(odoo, move, "modify_moves")

    assert action["context"] == {"default_move_type": "out_invoice"}
    new = read(odoo, "account.move", action["res_id"], ["state", "move_type", "name"])
    assert (new["state"], new["move_type"], new["name"]) == (
        "draft",
        "out_invoice",
        False,
    )
    assert read(odoo, "account.move", move, ["payment_state"])["payment_state"] == (
        "reversed"
    )


def test_cancel_commits_then_cannot_marshal_none(odoo: Odoo, customer: int) -> None:
    move = posted_invoice(odoo, customer)

    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("account.move", "button_cancel", [move])

    assert caught.value.faultCode == "cannot marshal None unless allow_none is enabled"
    assert read(odoo, "account.move", move, ["state"])["state"] == "cancel"


def test_payout_entry_in_the_stripe_journal(odoo: Odoo) -> None:
    bank = odoo.sandbox.records("account.account", [("code", "=", "101401")])[0]["id"]
    stripe = odoo.sandbox.records("account.account", [("code", "=", "101405")])[0]["id"]
    entry = odoo.call(
        "account.move",
        "create",
        {
            "move_type": "entry",
            "journal_id": odoo.journal("STRP"),
            "date": TODAY,
            "ref": "po_1",
            "line_ids": [
                (0, 0, {"account_id": bank, "debit": 90.0, "name": "payout"}),
                (0, 0, {"account_id": stripe, "credit": 90.0, "name": "payout"}),
            ],
        },
    )
    odoo.call("account.move", "action_post", [entry])

    row = read(odoo, "account.move", entry, ["name", "state", "amount_total"])
    assert row == {
        "id": entry,
        "name": f"STRP/{YEAR}/00001",
        "state": "posted",
        "amount_total": 90.0,
    }


def test_unbalanced_entry_is_refused(odoo: Odoo) -> None:
    bank = odoo.sandbox.records("account.account", [("code", "=", "101401")])[0]["id"]

    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call(
            "account.move",
            "create",
            {
                "move_type": "entry",
                "line_ids": [(0, 0, {"account_id": bank, "debit": 10.0})],
            },
        )

    assert caught.value.faultCode.startswith("warning -- UserError\n\n")
    assert "is not balanced" in caught.value.faultCode
    assert odoo.sandbox.records("account.move") == []
