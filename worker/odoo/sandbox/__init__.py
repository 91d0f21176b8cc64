"""A stand-in for an Odoo 18 Community server, spoken to over XML-RPC.

Tests and the demo talk to this sandbox instead of a real Odoo. It answers the
external API for the models revsync uses (partners, products, sales orders,
invoices, payments, credit notes, activities, external ids) with the values,
states, names and fault texts of a real server, including its surprises:
``load()`` appending invoice lines on a reload, wizards that commit and then
fail to marshal their reply, and the two fault encodings of the legacy and
``/xmlrpc/2`` endpoints.

    sandbox = Sandbox(db="revsync", username="api", password="secret")
    with SandboxServer(sandbox) as server:
        ...  # point odoolib at server.port
"""

from __future__ import annotations

from .sandbox import Sandbox
from .server import SandboxServer, serve_forever

__all__ = ["Sandbox", "SandboxServer", "serve_forever"]
