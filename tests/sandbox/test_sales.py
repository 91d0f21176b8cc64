"""Sales orders and the invoicing wizard (odoo.md §5, fact 6)."""

from __future__ import annotations

import xmlrpc.client

import pytest

from .support import Odoo


@pytest.fixture
def order(odoo: Odoo, customer: int) -> int:
    product = odoo.call(
        "product.product",
        "create",
        {
            "name": "Pro",
            "type": "service",
            "list_price": 49.0,
            "invoice_policy": "order",
        },
    )
    return odoo.call(
        "sale.order",
        "create",
        {
            "partner_id": customer,
            "client_order_ref": "sub_1",
            "order_line": [(0, 0, {"product_id": product, "product_uom_qty": 2})],
        },
    )


def read_order(odoo: Odoo, order: int, fields: list[str]) -> dict:
    return odoo.call("sale.order", "read", [order], fields)[0]


def test_new_order_is_a_named_draft_with_taxed_amounts(odoo: Odoo, order: int) -> None:
    row = read_order(
        odoo, order, ["name", "state", "amount_untaxed", "amount_tax", "amount_total"]
    )

    assert row == {
        "id": order,
        "name": "S00001",
        "state": "draft",
        "amount_untaxed": 98.0,
        "amount_tax": 14.7,
        "amount_total": 112.7,
    }


def test_confirm_makes_a_sale_to_invoice(odoo: Odoo, order: int) -> None:
    assert odoo.call("sale.order", "action_confirm", [order]) is True

    row = read_order(odoo, order, ["state", "invoice_status"])
    assert (row["state"], row["invoice_status"]) == ("sale", "to invoice")


def test_confirming_twice_is_refused(odoo: Odoo, order: int) -> None:
    odoo.call("sale.order", "action_confirm", [order])

    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call("sale.order", "action_confirm", [order])

    assert caught.value.faultCode == (
        "warning -- UserError\n\nSome orders are not in a state requiring confirmation."
    )


def test_invoice_wizard_commits_then_cannot_marshal_none(
    odoo: Odoo, order: int
) -> None:
    odoo.call("sale.order", "action_confirm", [order])
    context = {"active_model": "sale.order", "active_ids": [order], "active_id": order}
    wizard = odoo.call(
        "sale.advance.payment.inv",
        "create",
        {"advance_payment_method": "delivered"},
        context=context,
    )

    with pytest.raises(xmlrpc.client.Fault) as caught:
        odoo.call(
            "sale.advance.payment.inv", "create_invoices", [wizard], context=context
        )

    assert caught.value.faultCode == "cannot marshal None unless allow_none is enabled"
    (invoice,) = read_order(odoo, order, ["invoice_ids"])["invoice_ids"]
    move = odoo.call(
        "account.move",
        "read",
        [invoice],
        ["state", "invoice_origin", "ref", "amount_total"],
    )[0]
    assert (move["state"], move["invoice_origin"], move["ref"]) == (
        "draft",
        "S00001",
        "sub_1",
    )
    assert move["amount_total"] == 112.7
    assert read_order(odoo, order, ["invoice_status"])["invoice_status"] == "invoiced"


def test_cancel_of_a_confirmed_order_only_opens_the_wizard(
    odoo: Odoo, order: int
) -> None:
    odoo.call("sale.order", "action_confirm", [order])

    action = odoo.call("sale.order", "action_cancel", [order])
    assert action["res_model"] == "sale.order.cancel"
    assert read_order(odoo, order, ["state"])["state"] == "sale"

    assert (
        odoo.call(
            "sale.order",
            "action_cancel",
            [order],
            context={"disable_cancel_warning": True},
        )
        is True
    )
    assert read_order(odoo, order, ["state"])["state"] == "cancel"
