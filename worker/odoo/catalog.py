"""Odoo records revsync refers to but does not own: products, currencies, journals,
taxes, tags. Looked up once per worker process and kept, since they rarely change and
every lookup is a round trip of about 20 ms to a real Odoo.
"""

from __future__ import annotations

from collections.abc import Iterable

from worker.errors import PermanentError
from worker.odoo.client import OdooClient


class Catalog:
    """Cached name-to-id lookups against one Odoo."""

    def __init__(self, client: OdooClient) -> None:
        self.client = client
        self._ids: dict[tuple[str, str], int] = {}

    def _lookup(self, model: str, field: str, value: str, what: str) -> int:
        key = (model, value)
        if key not in self._ids:
            rows = self.client.search_read(
                model, [(field, "=", value)], ["id"], limit=2
            )
            if not rows:
                raise PermanentError(f"Odoo has no {what} {value!r}")
            if len(rows) > 1:
                raise PermanentError(f"Odoo has several {what}s named {value!r}")
            self._ids[key] = int(rows[0]["id"])
        return self._ids[key]

    def product(self, default_code: str) -> int:
        return self._lookup(
            "product.product", "default_code", default_code, "product with reference"
        )

    def currency(self, code: str) -> int:
        return self._lookup("res.currency", "name", code, "currency")

    def journal(self, name: str) -> int:
        return self._lookup("account.journal", "name", name, "journal")

    def taxes(self, names: Iterable[str]) -> list[int]:
        return [self._lookup("account.tax", "name", name, "tax") for name in names]

    def tag(self, name: str) -> int:
        """The partner tag of that name, created the first time it is needed."""
        key = ("res.partner.category", name)
        if not self._ids.get(key):
            rows = self.client.search_read(
                "res.partner.category", [("name", "=", name)], ["id"], limit=1
            )
            if rows:
                self._ids[key] = int(rows[0]["id"])
            else:
                self._ids[key] = int(
                    self.client.call("res.partner.category", "create", {"name": name})
                )
        return self._ids[key]

    def known_tag_ids(self, names: Iterable[str]) -> list[int]:
        """Ids of the tags among ``names`` that exist already (no creation).

        A tag found missing is remembered as missing (0): revsync creates its tags
        only through ``tag()``, which replaces that entry.
        """
        names = list(names)
        wanted = [n for n in names if ("res.partner.category", n) not in self._ids]
        if wanted:
            found = {
                row["name"]: int(row["id"])
                for row in self.client.search_read(
                    "res.partner.category", [("name", "in", wanted)], ["id", "name"]
                )
            }
            for name in wanted:
                self._ids[("res.partner.category", name)] = found.get(name, 0)
        ids = [self._ids[("res.partner.category", n)] for n in names]
        return [tag_id for tag_id in ids if tag_id]
