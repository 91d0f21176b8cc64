"""One customer, whatever system knows it: which account an object belongs to.

An account is one customer. Each HubSpot company, Stripe customer, Zendesk
organization and Odoo partner revsync knows is a cross-reference row pointing at
its account, and each account has at most one Odoo partner: the ``odoo_id`` of
exactly one of its cross-references (the one that created or adopted the partner).
Every other object of the account writes to that partner.

An object seen for the first time is matched in this order, and never fuzzily:

1. explicit ids: Stripe customer metadata ``hubspot_company_id``, a Zendesk
   organization's ``external_id`` (what it holds is set in ``[identity]``);
2. the exact VAT number of an Odoo partner;
3. the exact e-mail domain of an Odoo partner, when ``[identity]
   match_email_domain`` allows it (free mail domains never match).

A rule that matches more than one customer holds the event for an operator
(``HeldError``): nothing is merged by guess. Released, the event goes on as a
customer of its own. An Odoo partner that matches but that revsync does not know
yet is adopted: it becomes the partner of a new account.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from worker.errors import HeldError
from worker.store import CrossReference
from worker.sync.context import SyncContext
from worker.sync.gates import released

PARTNER_MODEL = "res.partner"
_NOT_ALNUM = re.compile(r"[^0-9A-Za-z]")
_HUBSPOT_ID = re.compile(r"[0-9]{1,20}")


@dataclass(frozen=True)
class StripeIdentity:
    """Where a Stripe customer belongs: an account, or a HubSpot company to create
    first (named by the customer's metadata but not known to revsync yet)."""

    account_id: int | None
    hubspot_company_id: str | None = None


def account_of(
    ctx: SyncContext, system: str, object_type: str, external_id: str
) -> int | None:
    xref = ctx.xref(system, object_type, external_id)
    return xref.account_id if xref is not None else None


def account_partner(ctx: SyncContext, account_id: int | None) -> int | None:
    """The Odoo partner of an account, whichever of its objects brought it."""
    if account_id is None:
        return None
    with ctx.runtime.store.session() as session:
        partner = session.scalar(
            select(CrossReference.odoo_id)
            .where(
                CrossReference.account_id == account_id,
                CrossReference.odoo_model == PARTNER_MODEL,
                CrossReference.odoo_id.is_not(None),
            )
            .order_by(CrossReference.id)
            .limit(1)
        )
    return int(partner) if partner is not None else None


def normalize_vat(value: Any) -> str:
    """A VAT number as compared: upper case, without spaces, dots or dashes."""
    return _NOT_ALNUM.sub("", str(value or "")).upper()


def email_domain(email: Any) -> str:
    local, at, domain = str(email or "").strip().lower().rpartition("@")
    return domain if at and local and "." in domain else ""


def web_domain(value: Any) -> str:
    """A company domain as HubSpot stores it (``acme.example``, maybe a URL)."""
    text = str(value or "").strip().lower()
    text = text.split("://", 1)[-1].split("/", 1)[0]
    return text.removeprefix("www.")


def match_existing(
    ctx: SyncContext, *, what: str, vat: str = "", domain: str = ""
) -> int | None:
    """The account an unknown object belongs to by VAT number, then e-mail domain.

    :raises HeldError: a rule matches more than one customer.
    """
    vat = normalize_vat(vat)
    if vat:
        account = _match_partners(ctx, [("vat", "=ilike", vat)], "VAT number", what)
        if account is not None:
            return account
    rules = ctx.mapping.identity
    domain = domain.lower()
    if domain and rules.match_email_domain and domain not in rules.ignore_domains:
        # The domain is made of letters, digits, dots and dashes only (no
        # wildcards), so =ilike compares it exactly, ignoring case.
        if re.fullmatch(r"[a-z0-9.-]+", domain):
            terms = [("email", "=ilike", f"%@{domain}")]
            return _match_partners(ctx, terms, "e-mail domain", what)
    return None


def _match_partners(
    ctx: SyncContext, terms: list[Any], rule: str, what: str
) -> int | None:
    rows = ctx.odoo.search_read(
        PARTNER_MODEL, [("parent_id", "=", False), *terms], ["id"], limit=20
    )
    accounts: set[int] = set()
    strangers: list[int] = []
    for row in rows:
        xref = ctx.xref_by_odoo(PARTNER_MODEL, int(row["id"]))
        if xref is not None and xref.account_id is not None:
            accounts.add(xref.account_id)
        else:
            strangers.append(int(row["id"]))
    found = len(accounts) + len(strangers)
    if found == 0:
        return None
    if found > 1:
        if released(ctx):
            return None
        shown = [f"account {a}" for a in sorted(accounts)]
        shown += [f"odoo partner {p}" for p in strangers]
        raise HeldError(
            f"ambiguous identity: the {rule} of {what} matches {found} customers "
            f"({', '.join(shown)}); link it by hand, or release it to sync it as "
            "a customer of its own"
        )
    if accounts:
        return accounts.pop()
    return adopt_partner(ctx, strangers[0])


def adopt_partner(ctx: SyncContext, partner_id: int) -> int:
    """Make an Odoo partner revsync did not create the partner of a new account."""
    xref = ctx.link(
        "odoo",
        "partner",
        str(partner_id),
        odoo_model=PARTNER_MODEL,
        odoo_id=partner_id,
    )
    assert xref.account_id is not None
    return xref.account_id


def resolve_hubspot_company(
    ctx: SyncContext, company_id: str, *, vat: str = "", domain: str = ""
) -> int | None:
    """The account of a HubSpot company; None when it is a new customer."""
    account = account_of(ctx, "hubspot", "company", company_id)
    if account is not None:
        return account
    return match_existing(
        ctx, what=f"hubspot company {company_id}", vat=vat, domain=domain
    )


def stripe_customer_vat(customer: dict[str, Any]) -> str:
    """The customer's VAT number, when its tax ids came with it (expanded)."""
    tax_ids = customer.get("tax_ids")
    data = tax_ids.get("data") if isinstance(tax_ids, dict) else None
    for tax_id in data or []:
        if isinstance(tax_id, dict) and str(tax_id.get("type", "")).endswith("vat"):
            return str(tax_id.get("value") or "")
    return ""


def hubspot_company_of(obj: dict[str, Any]) -> str | None:
    """The HubSpot company id a Stripe object names in its metadata."""
    value = str((obj.get("metadata") or {}).get("hubspot_company_id") or "").strip()
    return value if _HUBSPOT_ID.fullmatch(value) else None


def resolve_stripe_customer(
    ctx: SyncContext, customer: dict[str, Any], *, hint: dict[str, Any] | None = None
) -> StripeIdentity:
    """Where a Stripe customer belongs.

    ``hint`` is another object of the customer (its subscription) whose metadata
    may name the HubSpot company when the customer's own does not.
    """
    customer_id = str(customer["id"])
    account = account_of(ctx, "stripe", "customer", customer_id)
    if account is not None:
        return StripeIdentity(account)

    company = hubspot_company_of(customer) or (hubspot_company_of(hint or {}))
    if company is not None:
        return StripeIdentity(account_of(ctx, "hubspot", "company", company), company)

    account = match_existing(
        ctx,
        what=f"stripe customer {customer_id}",
        vat=stripe_customer_vat(customer),
        domain=email_domain(customer.get("email")),
    )
    return StripeIdentity(account)


def resolve_zendesk_organization(
    ctx: SyncContext, organization: dict[str, Any]
) -> int | None:
    """The account of a Zendesk organization, by its ``external_id`` first."""
    external = str(organization.get("external_id") or "").strip()
    kind = ctx.mapping.identity.zendesk_external_id
    organization_id = str(organization.get("id") or "")
    account = account_of(ctx, "zendesk", "organization", organization_id)
    if account is not None:
        return account
    if external:
        if kind == "odoo_partner":
            partner = int(external) if external.isdigit() else None
            xref = ctx.xref_by_odoo(PARTNER_MODEL, partner) if partner else None
            account = xref.account_id if xref is not None else None
        else:
            system, _, object_type = kind.partition("_")
            account = account_of(ctx, system, object_type, external)
        if account is not None:
            return account
    for domain in organization.get("domain_names") or []:
        account = match_existing(
            ctx,
            what=f"zendesk organization {organization_id}",
            domain=web_domain(domain),
        )
        if account is not None:
            return account
    return None
