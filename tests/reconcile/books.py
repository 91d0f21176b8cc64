"""Seeding Stripe (the fake) and Odoo (the sandbox) with many agreeing invoices.

Odoo records are made with the same calls and values the invoice handlers use
(``load`` under the revsync external id, lines written, posted, paid through the
payment wizard with the PaymentIntent as memo), in process and in bulk, and the
store gets the cross-references the handlers would have written.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import delete, insert

from tests.fakes.stripe import API_KEY, FakeStripe
from tests.lifecycle.harness import CREDENTIALS, PRODUCTS
from worker.odoo.client import external_id, qualified
from worker.odoo.sandbox import Sandbox, SandboxServer
from worker.runtime import Runtime
from worker.settings import Settings
from worker.store import (
    Account,
    AuditEntry,
    CrossReference,
    EntityVersion,
    InboxEvent,
    ReconcileItem,
    ReconcileRun,
    Store,
    utcnow,
)

CUSTOMERS = 50


def stripe_invoice(n: int, *, paid: bool, created: int, total: int = 2000) -> dict:
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


class Ledger:
    """A fresh sandbox, a Stripe fake and an emptied store, wired to one runtime."""

    def __init__(
        self, store: Store, redis_url: str, mapping_path: str, report_dir: str
    ) -> None:
        self.store = store
        self.sandbox = Sandbox(
            db=CREDENTIALS["db"],
            username=CREDENTIALS["username"],
            password=CREDENTIALS["password"],
            user_email="revsync-api@reconcile.example",
        )
        for code, name in PRODUCTS.values():
            self.sandbox.create_direct(
                "product.product",
                {"name": name, "default_code": code, "type": "service"},
            )
        self.server = SandboxServer(self.sandbox, host="127.0.0.1", port=0)
        self.server.start()
        self.stripe = FakeStripe()
        self.settings = Settings(
            database_url=store.url,
            redis_url=redis_url,
            odoo_url=self.server.url,
            odoo_db=CREDENTIALS["db"],
            odoo_username=CREDENTIALS["username"],
            odoo_password=SecretStr(CREDENTIALS["password"]),
            revsync_config=mapping_path,
            stripe_api_key=SecretStr(API_KEY),
            stripe_api_base=self.stripe.url,
            report_dir=report_dir,
            reconcile_alert_threshold=1000,
        )
        self.runtime = Runtime(self.settings)
        with store.session() as session:
            for model in (
                ReconcileItem,
                ReconcileRun,
                AuditEntry,
                InboxEvent,
                CrossReference,
                EntityVersion,
                Account,
            ):
                session.execute(delete(model))
        self.now = int(time.time())
        self._ids = {
            "journal": self._by_name("account.journal"),
            "currency": self._by_name("res.currency", active=True),
            "product": self.sandbox.records(
                "product.product", [("default_code", "=", "PRO-M")], ["id"]
            )[0]["id"],
        }
        self.partners = self._customers()

    def close(self) -> None:
        self.server.stop()
        self.stripe.stop()

    def _by_name(self, model: str, active: bool = False) -> dict[str, int]:
        domain = [("active", "in", [True, False])] if active else []
        return {
            row["name"]: row["id"]
            for row in self.sandbox.records(model, domain, ["name"])
        }

    def _customers(self) -> dict[str, tuple[int, int]]:
        """Partners and customer cross-references: customer id → (partner, account)."""
        rows = [
            [qualified(external_id("stripe", "customer", f"cus_r{n}")), f"C{n}", "1"]
            for n in range(CUSTOMERS)
        ]
        ids = self.sandbox.execute_kw(
            "res.partner", "load", [["id", "name", "is_company"], rows]
        )["ids"]
        now = utcnow()
        found: dict[str, tuple[int, int]] = {}
        with self.store.session() as session:
            for n, partner in enumerate(ids):
                account = Account(created_at=now)
                session.add(account)
                session.flush()
                found[f"cus_r{n}"] = (partner, account.id)
            session.execute(
                insert(CrossReference),
                [
                    {
                        "system": "stripe",
                        "object_type": "customer",
                        "external_id": customer,
                        "odoo_model": "res.partner",
                        "odoo_id": partner,
                        "account_id": account,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for customer, (partner, account) in found.items()
                ],
            )
        return found

    def book(
        self, invoices: list[dict[str, Any]], *, xrefs: bool = True, **override: Any
    ) -> list[int]:
        """Book Stripe invoices in Odoo as the handlers would; returns move ids.

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
                str(self.partners[i["customer"]][0]),
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
        if xrefs:
            self._link(invoices, moves, payments)
        return moves

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

    def _link(
        self,
        invoices: list[dict[str, Any]],
        moves: list[int],
        payments: dict[str, int],
    ) -> None:
        now = utcnow()
        rows = []
        for invoice, move in zip(invoices, moves, strict=True):
            account = self.partners[invoice["customer"]][1]
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
        with self.store.session() as session:
            for start in range(0, len(rows), 2000):
                session.execute(insert(CrossReference), rows[start : start + 2000])


def env_of(ledger: Ledger, report_dir: Path) -> dict[str, str]:
    settings = ledger.settings
    return {
        **os.environ,
        "DATABASE_URL": ledger.store.url,
        "REDIS_URL": str(settings.redis_url),
        "ODOO_URL": str(settings.odoo_url),
        "ODOO_DB": CREDENTIALS["db"],
        "ODOO_USERNAME": CREDENTIALS["username"],
        "ODOO_PASSWORD": CREDENTIALS["password"],
        "STRIPE_API_KEY": API_KEY,
        "STRIPE_API_BASE": ledger.stripe.url,
        "REVSYNC_CONFIG": str(settings.revsync_config),
        "REVSYNC_REPORT_DIR": str(report_dir),
        "REVSYNC_RECONCILE_TZ": "Europe/Berlin",
        "REVSYNC_ENV": "sandbox",
    }
