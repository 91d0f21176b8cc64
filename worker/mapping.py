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
class PayoutAccounts:
    """Where a Stripe payout is booked (``[payouts]``).

    ``bank_journal`` receives the payout; its default account gets the net amount.
    Accounts are named by code. Payments and refunds are taken out of the account
    their Odoo payment put them in; money no payment accounts for (dispute
    withdrawals and reinstatements, adjustments) goes to ``adjustment_account``.
    """

    bank_journal: str = "Bank"
    fee_account: str = "620000"
    adjustment_account: str = "101404"


# Member states of the European Union, whose customers need a VAT number when
# ``[gates] vat_required_countries = "EU"``.
EU_COUNTRIES = frozenset(
    """AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE
    SI SK""".split()
)
# Billing health as written to HubSpot company properties and Zendesk organization
# fields: revsync's name of each value -> the property or field key it goes to.
# ``[hubspot.properties]`` and ``[zendesk.fields]`` rename them; "" leaves one out.
BILLING_HEALTH_FIELDS = {
    "billing_status": "billing_status",
    "plan": "billing_plan",
    "mrr": "mrr",
    "currency": "billing_currency",
    "next_renewal_date": "next_renewal_date",
    "open_balance": "open_balance",
    "last_payment_failed_at": "last_payment_failed_at",
    "last_payment_failure_reason": "last_payment_failure_reason",
}
# Mail providers whose domain says nothing about the company behind an address.
FREE_MAIL_DOMAINS = frozenset(
    """gmail.com googlemail.com outlook.com hotmail.com live.com yahoo.com icloud.com
    me.com aol.com gmx.de gmx.net web.de proton.me protonmail.com""".split()
)


@dataclass(frozen=True)
class ContractApproval:
    """The HubSpot deal property (and value) that says the contract is approved."""

    property: str
    equals: str = "true"


@dataclass(frozen=True)
class Gates:
    """What must hold before revsync acts (``[gates]``).

    ``contract_approval``: a won deal's quotation is confirmed only once the deal
    has this property value. ``vat_required_countries``: a customer in one of these
    countries without a VAT number is held for an operator before anything syncs.
    """

    contract_approval: ContractApproval | None = None
    vat_required_countries: frozenset[str] = frozenset()


@dataclass(frozen=True)
class IdentityRules:
    """How objects of different systems are found to be one customer (``[identity]``).

    Explicit ids always match, then the exact VAT number; the exact e-mail domain
    only when ``match_email_domain`` is on, and never for ``ignore_domains``.
    ``zendesk_external_id`` says what a Zendesk organization's ``external_id``
    holds: ``hubspot_company``, ``stripe_customer`` or ``odoo_partner`` ids.
    """

    match_email_domain: bool = False
    ignore_domains: frozenset[str] = FREE_MAIL_DOMAINS
    zendesk_external_id: str = "hubspot_company"


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
    payouts: PayoutAccounts = field(default_factory=PayoutAccounts)
    # HubSpot line item hs_sku or hs_product_id -> Odoo product (default code).
    hubspot_products: dict[str, str] = field(default_factory=dict)
    # The HubSpot company property holding the VAT number, when there is one.
    hubspot_vat_property: str | None = None
    gates: Gates = field(default_factory=Gates)
    identity: IdentityRules = field(default_factory=IdentityRules)
    # Billing health write-back: value name -> HubSpot property / Zendesk field key.
    hubspot_properties: dict[str, str] = field(
        default_factory=lambda: dict(BILLING_HEALTH_FIELDS)
    )
    zendesk_fields: dict[str, str] = field(
        default_factory=lambda: dict(BILLING_HEALTH_FIELDS)
    )

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

    def hubspot_product_for(self, sku: str | None, product_id: str | None) -> str:
        """The Odoo product (default code) a HubSpot line item is sold as.

        :raises PermanentError: neither the SKU nor the product id is mapped.
        """
        for key in (sku, product_id):
            if key and key in self.hubspot_products:
                return self.hubspot_products[key]
        if self.fallback_product:
            return self.fallback_product
        raise PermanentError(
            f"no Odoo product mapped for HubSpot SKU {sku or '-'} "
            f"(product {product_id or '-'}); map it under [hubspot.products]"
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
    known = {"odoo", "products", "taxes", "tags", "activities", "payouts"}
    known |= {"gates", "identity"}
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
        payouts=_payouts(document.get("payouts", {})),
        hubspot_products={
            str(k): str(v)
            for k, v in document.get("hubspot", {}).get("products", {}).items()
        },
        hubspot_vat_property=document.get("hubspot", {}).get("vat_property") or None,
        gates=_gates(document.get("gates", {})),
        identity=_identity(document.get("identity", {})),
        hubspot_properties=_billing_fields(
            document.get("hubspot", {}).get("properties", {}), "[hubspot.properties]"
        ),
        zendesk_fields=_billing_fields(
            document.get("zendesk", {}).get("fields", {}), "[zendesk.fields]"
        ),
    )


def _billing_fields(section: dict[str, Any], name: str) -> dict[str, str]:
    unknown = sorted(set(section) - set(BILLING_HEALTH_FIELDS))
    if unknown:
        raise PermanentError(f"{name} has unknown keys: {', '.join(unknown)}")
    return {**BILLING_HEALTH_FIELDS, **{k: str(v) for k, v in section.items()}}


def _payouts(section: dict[str, Any]) -> PayoutAccounts:
    unknown = sorted(set(section) - set(PayoutAccounts.__dataclass_fields__))
    if unknown:
        raise PermanentError(f"[payouts] has unknown keys: {', '.join(unknown)}")
    return PayoutAccounts(**{name: str(value) for name, value in section.items()})


def _gates(section: dict[str, Any]) -> Gates:
    unknown = sorted(set(section) - {"contract_approval", "vat_required_countries"})
    if unknown:
        raise PermanentError(f"[gates] has unknown keys: {', '.join(unknown)}")
    approval = section.get("contract_approval")
    if approval is not None and (
        not isinstance(approval, dict) or not approval.get("property")
    ):
        raise PermanentError("[gates] contract_approval needs a property")
    countries = section.get("vat_required_countries", [])
    if countries == "EU":
        required = EU_COUNTRIES
    elif isinstance(countries, list):
        required = frozenset(str(code).upper() for code in countries)
    else:
        raise PermanentError('[gates] vat_required_countries: "EU" or a list')
    return Gates(
        contract_approval=ContractApproval(
            str(approval["property"]), str(approval.get("equals", "true"))
        )
        if approval
        else None,
        vat_required_countries=required,
    )


def _identity(section: dict[str, Any]) -> IdentityRules:
    unknown = sorted(set(section) - set(IdentityRules.__dataclass_fields__))
    if unknown:
        raise PermanentError(f"[identity] has unknown keys: {', '.join(unknown)}")
    kinds = ("hubspot_company", "stripe_customer", "odoo_partner")
    zendesk = str(section.get("zendesk_external_id", "hubspot_company"))
    if zendesk not in kinds:
        raise PermanentError(f"[identity] zendesk_external_id: one of {kinds}")
    ignore = section.get("ignore_domains")
    return IdentityRules(
        match_email_domain=bool(section.get("match_email_domain", False)),
        ignore_domains=frozenset(d.lower() for d in ignore)
        if ignore is not None
        else FREE_MAIL_DOMAINS,
        zendesk_external_id=zendesk,
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
