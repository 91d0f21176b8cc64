"""The mapping file (TOML, ``REVSYNC_CONFIG``): how Stripe's catalogue meets Odoo's.

Everything a finance team decides about the books lives here rather than in code:
which Odoo product a Stripe price or product is sold as, which Odoo tax a Stripe tax
rate is, the journals, the partner tags of each lifecycle status, and whether an
unmapped product is an error (strict) or falls back to one product.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from worker.errors import PermanentError

DEFAULT_TAGS = {
    "active": "revsync: active",
    "trialing": "revsync: trialing",
    "past_due": "revsync: past due",
    "paused": "revsync: paused",
    "canceled": "revsync: churned",
    "dunning": "revsync: dunning",
}


@dataclass(frozen=True)
class Mapping:
    """The parsed mapping file; every field has the default a new install needs."""

    products: dict[str, str] = field(default_factory=dict)
    fallback_product: str | None = None
    taxes: dict[str, str] = field(default_factory=dict)
    currencies: frozenset[str] | None = None
    sales_journal: str = "Customer Invoices"
    stripe_journal: str = "Stripe"
    tags: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TAGS))
    collections_summary: str = "Collections: payment failed"
    dispute_summary: str = "Stripe dispute opened"

    def product_for(self, price_id: str | None, product_id: str | None) -> str:
        """The Odoo product (default code) to invoice a Stripe price as.

        :raises PermanentError: no mapping and no fallback product (strict mode).
        """
        for key in (price_id, product_id):
            if key and key in self.products:
                return self.products[key]
        if self.fallback_product:
            return self.fallback_product
        raise PermanentError(
            f"no Odoo product mapped for Stripe price {price_id or '-'} "
            f"(product {product_id or '-'}); map it under [products]"
        )

    def check_currency(self, code: str) -> str:
        if self.currencies is not None and code not in self.currencies:
            raise PermanentError(
                f"currency {code} is not enabled under [odoo] currencies"
            )
        return code

    def tag(self, status: str) -> str | None:
        return self.tags.get(status)


def parse(document: dict[str, Any]) -> Mapping:
    """Build a Mapping from a parsed TOML document, rejecting unknown sections."""
    known = {"odoo", "products", "taxes", "tags", "activities"}
    unknown = sorted(set(document) - known - {"hubspot", "zendesk", "lifecycle"})
    if unknown:
        raise PermanentError(f"mapping file has unknown sections: {', '.join(unknown)}")
    odoo = document.get("odoo", {})
    currencies = odoo.get("currencies")
    activities = document.get("activities", {})
    return Mapping(
        products={str(k): str(v) for k, v in document.get("products", {}).items()},
        fallback_product=odoo.get("fallback_product") or None,
        taxes={str(k): str(v) for k, v in document.get("taxes", {}).items()},
        currencies=frozenset(c.upper() for c in currencies) if currencies else None,
        sales_journal=odoo.get("sales_journal", "Customer Invoices"),
        stripe_journal=odoo.get("stripe_journal", "Stripe"),
        tags={**DEFAULT_TAGS, **document.get("tags", {})},
        collections_summary=activities.get(
            "collections_summary", "Collections: payment failed"
        ),
        dispute_summary=activities.get("dispute_summary", "Stripe dispute opened"),
    )


def load(path: str | None) -> Mapping:
    if not path:
        return Mapping()
    try:
        document = tomllib.loads(Path(path).read_text())
    except FileNotFoundError:
        raise PermanentError(f"mapping file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise PermanentError(
            f"mapping file {path} is not valid TOML: {error}"
        ) from None
    return parse(document)


@lru_cache(maxsize=4)
def cached(path: str | None, mtime: float) -> Mapping:
    return load(path)


def current(path: str | None) -> Mapping:
    """The mapping in force, re-read when the file changes (no restart needed)."""
    mtime = Path(path).stat().st_mtime if path and Path(path).exists() else 0.0
    return cached(path, mtime)
