"""A HubSpot company becomes an account and its Odoo partner.

HubSpot owns the commercial account of a customer it knows: the partner's name
follows the company. A company that matches a customer revsync already has (by
VAT number or e-mail domain, see ``worker.identity``) joins that account and
renames its partner; a new one gets a partner of its own under the external id
``revsync.hubspot_company_<id>``.
"""

from __future__ import annotations

import re
from typing import Any

from worker.errors import PermanentError
from worker.hubspot_api import COMPANY_PROPERTIES, HubSpotAPI, hubspot_api
from worker.identity import (
    PARTNER_MODEL,
    account_partner,
    resolve_hubspot_company,
    web_domain,
)
from worker.odoo.client import external_id, qualified
from worker.sync.context import SyncContext, digest
from worker.sync.gates import check_compliance

_COUNTRY_CODE = re.compile(r"[A-Za-z]{2}")


def company_xmlid(company_id: str) -> str:
    return qualified(external_id("hubspot", "company", company_id))


def require_api(ctx: SyncContext) -> HubSpotAPI:
    api = hubspot_api(ctx.runtime.settings)
    if api is None:
        raise PermanentError("HUBSPOT_ACCESS_TOKEN is not set: cannot read HubSpot")
    return api


def country_code(ctx: SyncContext, value: Any) -> str:
    """HubSpot's free-text country as an ISO code ("DE", "Germany"), or ""."""
    text = str(value or "").strip()
    if not text:
        return ""
    if _COUNTRY_CODE.fullmatch(text):
        return text.upper()
    rows = ctx.odoo.search_read("res.country", [("name", "=ilike", text)], ["code"])
    return str(rows[0]["code"]).upper() if len(rows) == 1 else ""


def partner_values(
    company_id: str, properties: dict[str, Any], country: str, vat: str
) -> dict[str, Any]:
    """The res.partner fields of a customer HubSpot brought."""
    return {
        "name": properties.get("name") or f"HubSpot company {company_id}",
        "is_company": True,
        "ref": f"hubspot:{company_id}",
        "phone": properties.get("phone") or "",
        "street": properties.get("address") or "",
        "street2": properties.get("address2") or "",
        "city": properties.get("city") or "",
        "zip": properties.get("zip") or "",
        "website": web_domain(properties.get("domain")),
        "vat": vat,
        "country_id/id": f"base.{country.lower()}" if country else "",
    }


def ensure_company(
    ctx: SyncContext, company_id: str, api: HubSpotAPI | None = None
) -> int:
    """The Odoo partner of a HubSpot company, its account on ``ctx.account_id``.

    Reads the company from HubSpot; a company not synced before must pass the
    compliance gate first.

    :raises HeldError: the compliance gate fails, or the identity is ambiguous.
    """
    api = api or require_api(ctx)
    vat_property = ctx.mapping.hubspot_vat_property
    names = [*COMPANY_PROPERTIES, *([vat_property] if vat_property else [])]
    properties = api.company(company_id, names).get("properties") or {}
    vat = str(properties.get(vat_property) or "") if vat_property else ""
    country = country_code(ctx, properties.get("country"))
    xref = ctx.xref("hubspot", "company", company_id)
    if xref is None:
        # The gate guards a customer's first sync; once an operator let it
        # through, its later events (the approval, say) are not held again.
        check_compliance(
            ctx, what=f"hubspot company {company_id}", country=country, vat=vat
        )

    account = resolve_hubspot_company(
        ctx, company_id, vat=vat, domain=web_domain(properties.get("domain"))
    )
    partner = account_partner(ctx, account)
    values = partner_values(company_id, properties, country, vat)
    values_hash = digest(values)
    version = ctx.version("hubspot", "company", company_id)
    owns_partner = xref is not None and xref.odoo_model == PARTNER_MODEL

    if partner is None or owns_partner:
        if partner is None or version is None or version.values_hash != values_hash:
            partner = ctx.odoo.load_record(
                PARTNER_MODEL, company_xmlid(company_id), values
            )
            ctx.audit(
                system="odoo",
                model=PARTNER_MODEL,
                record_id=partner,
                operation="update" if owns_partner else "create",
                fields=[name.split("/")[0] for name in values],
            )
        ctx.link(
            "hubspot",
            "company",
            company_id,
            odoo_model=PARTNER_MODEL,
            odoo_id=partner,
            account_id=account,
        )
    else:
        # The customer came from another system first: its partner stays, and
        # takes the name HubSpot gives the account.
        if version is None or version.values_hash != values_hash:
            ctx.odoo.call(PARTNER_MODEL, "write", [partner], {"name": values["name"]})
            ctx.audit(
                system="odoo",
                model=PARTNER_MODEL,
                record_id=partner,
                operation="write",
                fields=["name"],
                note=f"name from hubspot company {company_id}",
            )
        ctx.link(
            "hubspot",
            "company",
            company_id,
            odoo_model=None,
            odoo_id=None,
            account_id=account,
        )
    ctx.set_version(
        "hubspot",
        "company",
        company_id,
        source_ts=_event_ms(ctx),
        values_hash=values_hash,
    )
    ctx.landed.add(f"hubspot:company:{company_id}")
    return partner


def _event_ms(ctx: SyncContext) -> int:
    occurred = ctx.event.payload.get("occurredAt")
    if isinstance(occurred, int):
        return occurred
    return int(ctx.event.created) * 1000
