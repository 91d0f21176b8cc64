"""Books: one revsync store and one Odoo sandbox, fed Stripe events directly.

The property tests compare the books an ordered stream leaves with those a shuffled,
duplicated stream leaves. They drive the pipeline (``process_inbox_event``) in this
process, in the order the test chooses, so that hypothesis controls delivery order;
the Celery worker around it is tested elsewhere. Redis is real (the account locks),
on a database no worker listens to.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import delete, select

from webhooks.stripe import parse_stripe
from worker.errors import WaitingError
from worker.inbox import insert_events
from worker.odoo.sandbox import Sandbox, SandboxServer
from worker.pipeline import process_inbox_event
from worker.runtime import Runtime
from worker.settings import Settings
from worker.store import (
    Account,
    AuditEntry,
    CrossReference,
    EntityVersion,
    InboxEvent,
    InboxStatus,
    Store,
)

PRODUCTS = {
    "price_pro_monthly": ("PRO-M", "Pro monthly"),
    "price_pro_yearly": ("PRO-Y", "Pro yearly"),
    "price_team": ("TEAM", "Team plan"),
}
MAPPING = """
[odoo]
currencies = ["USD", "EUR", "JPY"]

[products]
price_pro_monthly = "PRO-M"
price_pro_yearly = "PRO-Y"
price_team = "TEAM"
# Plan changes bill new prices of the same products.
prod_price_pro_monthly = "PRO-M"
prod_price_team = "TEAM"
"""
CREDENTIALS = {"db": "revsync", "username": "api", "password": "books-secret"}


def write_mapping(directory: Path) -> str:
    path = directory / "mapping.toml"
    path.write_text(MAPPING)
    return str(path)


class Books:
    """A fresh Odoo sandbox and an emptied store, ready for one stream."""

    def __init__(self, store: Store, redis_url: str, mapping_path: str) -> None:
        self.store = store
        self.sandbox = Sandbox(
            db=CREDENTIALS["db"],
            username=CREDENTIALS["username"],
            password=CREDENTIALS["password"],
            user_email="revsync-api@books.example",
        )
        for code, name in PRODUCTS.values():
            self.sandbox.create_direct(
                "product.product",
                {"name": name, "default_code": code, "type": "service"},
            )
        self.server = SandboxServer(self.sandbox, host="127.0.0.1", port=0)
        self.server.start()
        settings = Settings(
            database_url=store.url,
            redis_url=redis_url,
            odoo_url=self.server.url,
            odoo_db=CREDENTIALS["db"],
            odoo_username=CREDENTIALS["username"],
            odoo_password=SecretStr(CREDENTIALS["password"]),
            revsync_config=mapping_path,
        )
        self.runtime = Runtime(settings)
        with store.session() as session:
            for model in (AuditEntry, InboxEvent, CrossReference, EntityVersion):
                session.execute(delete(model))
            session.execute(delete(Account))

    def close(self) -> None:
        self.server.stop()

    def deliver(self, events: Iterable[dict[str, Any]]) -> list[int]:
        """Store each delivery as the receiver would; returns the new inbox ids."""
        ids: list[int] = []
        for event in events:
            parsed = parse_stripe(json.dumps(event).encode())
            with self.store.session() as session:
                created, _ = insert_events(session, parsed)
            ids.extend(inbox_id for inbox_id, _ in created)
        return ids

    def process(self, order: Sequence[int], *, passes: int = 10) -> None:
        """Apply events in ``order``, then retry waiting ones until none moves."""
        for inbox_id in order:
            self._run(inbox_id)
        for _ in range(passes):
            waiting = self.pending()
            if not waiting:
                return
            for inbox_id in waiting:
                self._run(inbox_id)
        raise AssertionError(f"events still waiting: {self.pending_reasons()}")

    def apply(self, inbox_id: int) -> None:
        """Apply one event; a wait for a prerequisite leaves it waiting."""
        self._run(inbox_id)

    def _run(self, inbox_id: int) -> None:
        try:
            process_inbox_event(self.runtime, inbox_id)
        except WaitingError:
            pass

    def pending(self) -> list[int]:
        with self.store.session() as session:
            return list(
                session.scalars(
                    select(InboxEvent.id)
                    .where(InboxEvent.status.in_(InboxStatus.PENDING))
                    .order_by(InboxEvent.id)
                )
            )

    def pending_reasons(self) -> list[tuple[str, str, str | None]]:
        with self.store.session() as session:
            return [
                (row.type, row.status, row.reason)
                for row in session.scalars(
                    select(InboxEvent).where(InboxEvent.status.in_(InboxStatus.PENDING))
                )
            ]

    def failures(self) -> list[tuple[str, str | None]]:
        with self.store.session() as session:
            return [
                (row.type, row.reason)
                for row in session.scalars(
                    select(InboxEvent).where(
                        InboxEvent.status.in_([InboxStatus.DEAD, InboxStatus.HELD])
                    )
                )
            ]

    def snapshot(self) -> dict[str, Any]:
        """The books as finance reads them, without ids or sequence numbers."""
        records = self.sandbox.records
        tags = {row["id"]: row["name"] for row in records("res.partner.category")}
        products = {
            row["id"]: row["default_code"] for row in records("product.product")
        }
        partners = {
            row["id"]: row["ref"]
            for row in records("res.partner", domain=[("ref", "!=", False)])
        }
        partner_rows = records(
            "res.partner",
            domain=[("ref", "!=", False), ("active", "in", [True, False])],
        )
        lines = {row["id"]: row for row in records("sale.order.line")}
        moves = records(
            "account.move", domain=[("move_type", "in", ["out_invoice", "out_refund"])]
        )
        return {
            "partners": sorted(
                (
                    row["ref"],
                    row["name"],
                    row["active"],
                    tuple(sorted(tags[t] for t in row["category_id"])),
                )
                for row in partner_rows
            ),
            "orders": sorted(
                (
                    row["client_order_ref"],
                    partners.get(row["partner_id"][0]),
                    row["state"],
                    tuple(
                        sorted(
                            (
                                products[lines[line]["product_id"][0]],
                                lines[line]["product_uom_qty"],
                                lines[line]["price_unit"],
                            )
                            for line in row["order_line"]
                        )
                    ),
                )
                for row in records("sale.order")
            ),
            "moves": sorted(
                (
                    row["payment_reference"] or "",
                    row["move_type"],
                    row["state"],
                    row["payment_state"],
                    row["amount_total"],
                    row["amount_residual"],
                    row["currency_id"][1],
                )
                for row in moves
            ),
            "payments": sorted(
                (row["memo"] or "", row["payment_type"], row["amount"], row["state"])
                for row in records("account.payment")
            ),
            "activities": sorted(
                (row["summary"], row["res_model"]) for row in records("mail.activity")
            ),
        }

    def duplicates(self) -> dict[str, int]:
        """External references that more than one record of a model carries."""
        records = self.sandbox.records
        refs = Counter(
            f"account.move {row['payment_reference']}"
            for row in records(
                "account.move",
                domain=[("move_type", "in", ["out_invoice", "out_refund"])],
            )
        )
        refs.update(
            f"sale.order {row['client_order_ref']}" for row in records("sale.order")
        )
        refs.update(
            f"account.payment {row['memo']}" for row in records("account.payment")
        )
        refs.update(
            f"res.partner {row['ref']}"
            for row in records(
                "res.partner",
                domain=[("ref", "!=", False), ("active", "in", [True, False])],
            )
        )
        return {ref: n for ref, n in refs.items() if n > 1}
