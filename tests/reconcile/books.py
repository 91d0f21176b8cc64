"""The reconciliation tests' books: a sandbox, a Stripe fake and an emptied store.

The seeding itself (Stripe invoices, Odoo records booked as the handlers would,
cross-references) lives in ``tests.reconcile.seed``, shared with the benchmark.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import delete

from tests.fakes.stripe import API_KEY, FakeStripe
from tests.lifecycle.harness import CREDENTIALS, PRODUCTS
from tests.reconcile.seed import SandboxBooks, link_customers, link_invoices
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
)


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
        self.books = SandboxBooks(self.sandbox)
        self.partner_ids = self.books.customers()
        self.accounts = link_customers(store, self.partner_ids)

    def close(self) -> None:
        self.server.stop()
        self.stripe.stop()

    def book(
        self, invoices: list[dict[str, Any]], *, xrefs: bool = True, **override: Any
    ) -> list[int]:
        """Book Stripe invoices in Odoo as the handlers would; returns move ids.

        ``override`` plants a discrepancy (see ``SandboxBooks.book``).
        """
        moves, payments = self.books.book(invoices, self.partner_ids, **override)
        if xrefs:
            link_invoices(self.store, invoices, moves, payments, self.accounts)
        return moves


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
