"""How the sandbox tests talk to a served sandbox, the two ways clients do.

Through odoolib (odoo-client-lib 2.0.1: legacy ``/xmlrpc/*`` endpoints with
string fault codes) and through ``xmlrpc.client`` on ``/xmlrpc/2/*`` (integer
fault codes).
"""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Iterator
from typing import Any

import odoolib

from worker.odoo.sandbox import Sandbox, SandboxServer

DB, LOGIN, PASSWORD = "revsync", "api", "secret"
TODAY = "2026-03-10"


class Odoo:
    """One sandbox, its server, and the calls a client makes to it."""

    def __init__(self, sandbox: Sandbox, server: SandboxServer) -> None:
        self.sandbox = sandbox
        self.server = server
        self.uid = sandbox.user_id

    def connection(self, password: str = PASSWORD) -> Any:
        return odoolib.get_connection(
            hostname="127.0.0.1",
            protocol="xmlrpc",
            port=self.server.port,
            database=DB,
            login=LOGIN,
            password=password,
        )

    def call(self, model: str, method: str, *args: Any, **kw: Any) -> Any:
        """One execute_kw through odoolib, on the legacy endpoint."""
        connection = self.connection()
        connection.check_login(False)
        return connection.get_service("object").execute_kw(
            DB, connection.user_id, PASSWORD, model, method, list(args), kw
        )

    def proxy(self, service: str, version: str = "2") -> xmlrpc.client.ServerProxy:
        path = f"xmlrpc/{version}/{service}" if version else f"xmlrpc/{service}"
        return xmlrpc.client.ServerProxy(f"{self.server.url}/{path}")

    def v2(self, model: str, method: str, *args: Any, **kw: Any) -> Any:
        """One execute_kw with xmlrpc.client on /xmlrpc/2/object."""
        return self.proxy("object").execute_kw(
            DB, self.uid, PASSWORD, model, method, list(args), kw
        )

    def ref(self, xmlid: str) -> int:
        found = self.sandbox.xmlid(xmlid)
        assert found is not None, xmlid
        return found[1]

    def journal(self, code: str) -> int:
        return self.sandbox.records("account.journal", [("code", "=", code)])[0]["id"]

    def model_id(self, model: str) -> int:
        return self.sandbox.records("ir.model", [("model", "=", model)])[0]["id"]


def make_odoo(**options: Any) -> Iterator[Odoo]:
    sandbox = Sandbox(db=DB, username=LOGIN, password=PASSWORD, **options)
    server = SandboxServer(sandbox, host="127.0.0.1", port=0).start()
    try:
        yield Odoo(sandbox, server)
    finally:
        server.stop()


def invoice_vals(partner: int, *lines: tuple[str, float, float], **extra: Any) -> dict:
    """An out_invoice with one (0, 0, ...) line per (label, quantity, price)."""
    return {
        "move_type": "out_invoice",
        "partner_id": partner,
        "invoice_date": TODAY,
        "invoice_line_ids": [
            (0, 0, {"name": name, "quantity": quantity, "price_unit": price})
            for name, quantity, price in lines
        ],
        **extra,
    }


def register_payment(odoo: Odoo, move: int, **vals: Any) -> dict:
    context = {"active_model": "account.move", "active_ids": [move]}
    vals.setdefault("journal_id", odoo.journal("STRP"))
    wizard = odoo.call("account.payment.register", "create", vals, context=context)
    return odoo.call(
        "account.payment.register", "action_create_payments", [wizard], context=context
    )
