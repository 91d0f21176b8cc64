"""Odoo records revsync refers to but does not own: products, currencies, journals,
taxes, tags. Looked up once per worker process and kept, since they rarely change and
every lookup is a round trip of about 20 ms to a real Odoo.
"""

from __future__ import annotations

from collections.abc import Iterable

from worker.errors import PermanentError
from worker.odoo.client import OdooClient, external_id, qualified


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
        """The partner tag of that name, created the first time it is needed.

        revsync's tags carry an external id of their own, so two workers that
        create the same tag at once still make one.
        """
        key = ("res.partner.category", name)
        if key not in self._ids:
            xmlid = qualified(external_id("revsync", "partner_tag", name.lower()))
            self._ids[key] = self.client.load_record(
                "res.partner.category", xmlid, {"name": name}
            )
        return self._ids[key]

    def tag_ids(self, names: Iterable[str]) -> list[int]:
        return [self.tag(name) for name in names]
