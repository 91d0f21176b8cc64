"""Many agreeing invoices in Stripe's shape, booked in an Odoo sandbox in bulk.

Odoo records are made with the same calls and values the invoice handlers use
(``load`` under the revsync external id, lines written, posted, paid through the
payment wizard with the PaymentIntent as memo), in the sandbox's own process and
without the wire, and the store gets the cross-references the handlers would
have written. The reconciliation tests and ``bench/reconcile.py`` share it.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import insert

from worker.odoo.client import external_id, qualified
from worker.odoo.sandbox import Sandbox
from worker.store import Account, CrossReference, Store, utcnow

CUSTOMERS = 50


def stripe_invoice(
    n: int, *, paid: bool, created: int, total: int = 2000
) -> dict[str, Any]:
    invoice_id = f"in_r{n}"
    return {
        "id": invoice_id,
        "object": "invoice",
        "status": "paid" if paid else "open",
        "number": f"R-{n:05d}",
        "currency": "usd",
        "customer": f"cus_r{n % CUSTOMERS}",
        "created": created,
        "total": total,
        "amount_due": total,
        "amount_paid": total if paid else 0,
        "amount_remaining": 0 if paid else total,
        "payment_intent": f"pi_r{n}" if paid else None,
        "charge": f"ch_r{n}" if paid else None,
        "subscription": None,
        "livemode": False,
        "due_date": None,
        "lines": {
            "object": "list",
            "data": [
                {
                    "id": f"il_r{n}",
                    "object": "line_item",
                    "amount": total,
                    "quantity": 1,
                    "description": "Pro monthly",
                    "price": {
                        "id": "price_pro_monthly",
                        "product": "prod_price_pro_monthly",
                        "unit_amount": total,
                    },
                    "tax_rates": [],
                }
            ],
        },
    }


def xmlid_of(invoice: dict[str, Any]) -> str:
    return qualified(external_id("stripe", "invoice", invoice["id"]))


class SandboxBooks:
    """Books Stripe invoices in a sandbox as the handlers would, in its process.

    The sandbox must hold the ``PRO-M`` product (tests.lifecycle.harness.PRODUCTS).
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._ids = {
            "journal": self._by_name("account.journal"),
            "currency": self._by_name("res.currency", active=True),
            "product": sandbox.records(
                "product.product", [("default_code", "=", "PRO-M")], ["id"]
            )[0]["id"],
        }

    def _by_name(self, model: str, active: bool = False) -> dict[str, int]:
        domain = [("active", "in", [True, False])] if active else []
        return {
            row["name"]: row["id"]
            for row in self.sandbox.records(model, domain, ["name"])
        }

    def customers(self, count: int = CUSTOMERS) -> dict[str, int]:
        """Partners under the customers' external ids: customer id → partner id."""
        rows = [
            [qualified(external_id("stripe", "customer", f"cus_r{n}")), f"C{n}", "1"]
            for n in range(count)
        ]
        ids = self.sandbox.execute_kw(
            "res.partner", "load", [["id", "name", "is_company"], rows]
        )["ids"]
        return {f"cus_r{n}": int(partner) for n, partner in enumerate(ids)}

    def book(
        self,
        invoices: list[dict[str, Any]],
        partners: dict[str, int],
        **override: Any,
    ) -> tuple[list[int], dict[str, int]]:
        """Book Stripe invoices; returns the move ids and invoice id → payment id.

        ``override`` plants a discrepancy: ``currency``, ``factor`` (on the
        amount), ``pay=False`` (the payment never booked), ``xmlid=False`` (a
        second record without the external id).
        """
        currency = override.get("currency", "USD")
        columns = [
            "id",
            "move_type",
            "partner_id/.id",
            "currency_id/.id",
            "journal_id/.id",
            "ref",
            "payment_reference",
            "invoice_origin",
            "invoice_date",
        ]
        rows = [
            [
                "" if override.get("xmlid") is False else xmlid_of(i),
                "out_invoice",
                str(partners[i["customer"]]),
                str(self._ids["currency"][currency]),
                str(self._ids["journal"]["Customer Invoices"]),
                i["number"],
                i["id"],
                "Stripe",
                time.strftime("%Y-%m-%d", time.gmtime(i["created"])),
            ]
            for i in invoices
        ]
        moves: list[int] = self.sandbox.execute_kw(
            "account.move", "load", [columns, rows]
        )["ids"]
        factor = override.get("factor", 1.0)
        for invoice, move in zip(invoices, moves, strict=True):
            self.sandbox.execute_kw(
                "account.move",
                "write",
                [
                    [move],
                    {
                        "invoice_line_ids": [
                            (5, 0, 0),
                            (
                                0,
                                0,
                                {
                                    "product_id": self._ids["product"],
                                    "name": "Pro monthly",
                                    "quantity": 1,
                                    "price_unit": invoice["total"] / 100 * factor,
                                    "tax_ids": [(6, 0, [])],
                                },
                            ),
                        ],
                        "ref": invoice["number"],
                    },
                ],
            )
        self.sandbox.execute_kw("account.move", "action_post", [moves])
        pay = override.get("pay", True)
        payments: dict[str, int] = {}
        for invoice, move in zip(invoices, moves, strict=True):
            if invoice["status"] == "paid" and pay:
                payments[invoice["id"]] = self._pay(move, invoice)
        return moves, payments

    def _pay(self, move: int, invoice: dict[str, Any]) -> int:
        context = {"active_model": "account.move", "active_ids": [move]}
        wizard = self.sandbox.execute_kw(
            "account.payment.register",
            "create",
            [
                {
                    "journal_id": self._ids["journal"]["Stripe"],
                    "amount": invoice["amount_paid"] / 100,
                    "payment_date": time.strftime("%Y-%m-%d"),
                    "communication": invoice["payment_intent"],
                    "payment_difference_handling": "open",
                }
            ],
            {"context": context},
        )
        action = self.sandbox.execute_kw(
            "account.payment.register",
            "action_create_payments",
            [[wizard]],
            {"context": context},
        )
        return int(action["res_id"])


def link_customers(store: Store, partners: dict[str, int]) -> dict[str, int]:
    """An account and a customer cross-reference each: customer id → account id."""
    now = utcnow()
    accounts: dict[str, int] = {}
    with store.session() as session:
        for customer in partners:
            account = Account(created_at=now)
            session.add(account)
            session.flush()
            accounts[customer] = account.id
        session.execute(
            insert(CrossReference),
            [
                {
                    "system": "stripe",
                    "object_type": "customer",
                    "external_id": customer,
                    "odoo_model": "res.partner",
                    "odoo_id": partner,
                    "account_id": accounts[customer],
                    "created_at": now,
                    "updated_at": now,
                }
                for customer, partner in partners.items()
            ],
        )
    return accounts


def link_invoices(
    store: Store,
    invoices: Iterable[dict[str, Any]],
    moves: list[int],
    payments: dict[str, int],
    accounts: dict[str, int],
) -> None:
    """The invoice and payment cross-references the handlers would have written."""
    now = utcnow()
    rows = []
    for invoice, move in zip(invoices, moves, strict=True):
        account = accounts[invoice["customer"]]
        rows.append(
            {
                "system": "stripe",
                "object_type": "invoice",
                "external_id": invoice["id"],
                "odoo_model": "account.move",
                "odoo_id": move,
                "account_id": account,
                "parent_id": invoice["subscription"],
                "state": "posted",
                "created_at": now,
                "updated_at": now,
            }
        )
        if invoice["id"] in payments:
            rows.append(
                {
                    "system": "stripe",
                    "object_type": "payment",
                    "external_id": invoice["payment_intent"],
                    "odoo_model": "account.payment",
                    "odoo_id": payments[invoice["id"]],
                    "account_id": account,
                    "parent_id": invoice["id"],
                    "state": "paid",
                    "created_at": now,
                    "updated_at": now,
                }
            )
    with store.session() as session:
        for start in range(0, len(rows), 2000):
            session.execute(insert(CrossReference), rows[start : start + 2000])
