"""Identity rules: explicit ids first, then exact VAT, then e-mail domain; never a
guess. Resolved in this process against the session's store and Odoo sandbox."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest

from worker.errors import HeldError
from worker.identity import (
    account_partner,
    resolve_hubspot_company,
    resolve_stripe_customer,
    resolve_zendesk_organization,
)
from worker.runtime import Runtime
from worker.settings import Settings
from worker.store import InboxEvent, utcnow
from worker.sync.context import Event, SyncContext

Context = Callable[..., SyncContext]


@pytest.fixture
def context(settings: Settings, hubspot_mapping: str, store: Any) -> Context:
    """A SyncContext of a stand-alone event, with the HubSpot mapping (or another)."""

    def make(mapping: str = hubspot_mapping, inbox_id: int = 0) -> SyncContext:
        runtime = Runtime(settings.model_copy(update={"revsync_config": mapping}))
        event = Event(
            inbox_id, "stripe", "evt_identity", "customer.created", {}, None, None
        )
        return SyncContext(runtime, event)

    return make


def token() -> str:
    return str(random.randrange(10**9, 10**10))


def partner(sandbox: Any, **values: Any) -> int:
    return int(sandbox.create_direct("res.partner", {"is_company": True, **values}))


def company_account(ctx: SyncContext, sandbox: Any, **values: Any) -> tuple[str, int]:
    """A HubSpot company revsync knows, with its partner; (company id, account)."""
    company = token()
    partner_id = partner(sandbox, name=f"Company {company}", **values)
    xref = ctx.link(
        "hubspot", "company", company, odoo_model="res.partner", odoo_id=partner_id
    )
    assert xref.account_id is not None
    return company, xref.account_id


def customer(**fields: Any) -> dict[str, Any]:
    return {"id": f"cus_{token()}", "object": "customer", "metadata": {}, **fields}


class TestExplicitIds:
    def test_stripe_metadata_names_the_hubspot_company_s_account(
        self, context, sandbox
    ) -> None:
        ctx = context()
        company, account = company_account(ctx, sandbox)

        found = resolve_stripe_customer(
            ctx, customer(metadata={"hubspot_company_id": company})
        )

        assert found.account_id == account

    def test_an_explicit_id_wins_over_a_vat_number_of_another_account(
        self, context, sandbox
    ) -> None:
        ctx = context()
        vat = f"DE{token()}"
        company, account = company_account(ctx, sandbox)
        company_account(ctx, sandbox, vat=vat)
        tax_ids = {"data": [{"type": "eu_vat", "value": vat}]}

        found = resolve_stripe_customer(
            ctx,
            customer(metadata={"hubspot_company_id": company}, tax_ids=tax_ids),
        )

        assert found.account_id == account

    def test_a_hubspot_company_not_seen_yet_is_named_for_creation(
        self, context
    ) -> None:
        company = token()
        found = resolve_stripe_customer(
            context(), customer(metadata={"hubspot_company_id": company})
        )
        assert (found.account_id, found.hubspot_company_id) == (None, company)

    def test_a_subscription_s_metadata_can_name_the_company(
        self, context, sandbox
    ) -> None:
        ctx = context()
        company, account = company_account(ctx, sandbox)
        subscription = {"metadata": {"hubspot_company_id": company}}

        found = resolve_stripe_customer(ctx, customer(), hint=subscription)

        assert found.account_id == account

    def test_a_zendesk_organization_s_external_id_names_the_company(
        self, context, sandbox
    ) -> None:
        ctx = context()
        company, account = company_account(ctx, sandbox)

        found = resolve_zendesk_organization(
            ctx, {"id": token(), "external_id": company, "domain_names": []}
        )

        assert found == account


class TestVatNumber:
    def test_the_exact_vat_number_joins_the_account_whatever_its_spacing(
        self, context, sandbox
    ) -> None:
        ctx = context()
        vat = f"DE{token()}"
        _, account = company_account(ctx, sandbox, vat=vat)
        spaced = {"data": [{"type": "eu_vat", "value": f"{vat[:4]} {vat[4:]}"}]}

        assert resolve_stripe_customer(ctx, customer(tax_ids=spaced)).account_id == (
            account
        )

    def test_a_vat_number_of_two_customers_holds_the_event(
        self, context, sandbox
    ) -> None:
        ctx = context()
        vat = f"NL{token()}"
        company_account(ctx, sandbox, vat=vat)
        company_account(ctx, sandbox, vat=vat)

        with pytest.raises(HeldError, match="ambiguous identity: the VAT number"):
            resolve_hubspot_company(ctx, token(), vat=vat)

    def test_released_an_ambiguous_company_is_a_customer_of_its_own(
        self, context, sandbox, store
    ) -> None:
        vat = f"LU{token()}"
        company_account(context(), sandbox, vat=vat)
        company_account(context(), sandbox, vat=vat)
        with store.session() as session:
            row = InboxEvent(
                source="hubspot",
                event_id=f"identity:{token()}",
                type="deal.propertyChange",
                received_at=utcnow(),
                payload={},
                status="processing",
                updated_at=utcnow(),
                released_at=utcnow(),
                released_by="finance-lead",
            )
            session.add(row)
            session.flush()
            inbox_id = row.id

        try:
            resolved = resolve_hubspot_company(
                context(inbox_id=inbox_id), token(), vat=vat
            )
        finally:
            # A row left processing would look like work in flight to later suites.
            with store.session() as session:
                session.delete(session.get(InboxEvent, inbox_id))

        assert resolved is None

    def test_an_odoo_partner_revsync_does_not_know_is_adopted(
        self, context, sandbox
    ) -> None:
        ctx = context()
        vat = f"BE{token()}"
        existing = partner(sandbox, name="Kept by finance", vat=vat)

        account = resolve_hubspot_company(ctx, token(), vat=vat)

        assert account is not None
        assert account_partner(ctx, account) == existing
        assert ctx.xref("odoo", "partner", str(existing)) is not None


class TestEmailDomain:
    def test_the_exact_domain_matches_when_the_mapping_allows_it(
        self, context, sandbox
    ) -> None:
        ctx = context()
        domain = f"d{token()}.example"
        _, account = company_account(ctx, sandbox, email=f"info@{domain}")

        found = resolve_stripe_customer(ctx, customer(email=f"billing@{domain}"))

        assert found.account_id == account

    def test_a_longer_domain_is_not_the_same_domain(self, context, sandbox) -> None:
        ctx = context()
        domain = f"d{token()}.example"
        company_account(ctx, sandbox, email=f"info@eu.{domain}")

        found = resolve_stripe_customer(ctx, customer(email=f"billing@{domain}"))

        assert found.account_id is None

    def test_free_mail_domains_never_match(self, context, sandbox) -> None:
        ctx = context()
        company_account(ctx, sandbox, email=f"founder{token()}@gmail.com")

        found = resolve_stripe_customer(ctx, customer(email="someone@gmail.com"))

        assert found.account_id is None

    def test_domains_do_not_match_unless_the_mapping_says_so(
        self, context, sandbox, mapping_path
    ) -> None:
        ctx = context(mapping_path)
        domain = f"d{token()}.example"
        company_account(ctx, sandbox, email=f"info@{domain}")

        found = resolve_stripe_customer(ctx, customer(email=f"billing@{domain}"))

        assert found.account_id is None

    def test_a_domain_of_two_customers_holds_the_event(self, context, sandbox) -> None:
        ctx = context()
        domain = f"d{token()}.example"
        company_account(ctx, sandbox, email=f"a@{domain}")
        company_account(ctx, sandbox, email=f"b@{domain}")

        with pytest.raises(HeldError, match="e-mail domain"):
            resolve_stripe_customer(ctx, customer(email=f"billing@{domain}"))
