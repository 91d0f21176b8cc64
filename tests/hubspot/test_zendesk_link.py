"""A Zendesk organization joins the account its external id names, and only that.

Handled in this process against the session's store and Odoo sandbox, with the
payload shapes of Zendesk's organization events.
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import load_fixture
from tests.hubspot.test_identity import Context, company_account, context, token
from worker.errors import HeldError
from worker.store import CrossReference, Store
from worker.sync import find_handler
from worker.sync.context import Event, Skip, SyncContext

__all__ = ["context"]  # the fixture, shared with the identity tests


def organization_event(
    organization_id: str, external_id: str | None, kind: str = "created"
) -> Event:
    payload = copy.deepcopy(load_fixture("zendesk/event_organization_created.json"))
    payload["id"] = str(uuid.uuid4())
    payload["subject"] = f"zen:organization:{organization_id}"
    payload["detail"].update(id=organization_id, external_id=external_id)
    if kind == "external_id_changed":
        payload["type"] = "zen:event-type:organization.external_id_changed"
        payload["event"] = {"current": external_id, "previous": None}
    return Event(
        0, "zendesk", payload["id"], f"organization.{kind}", payload, None, None
    )


def apply(ctx: SyncContext, event: Event) -> SyncContext:
    handler = find_handler("zendesk", event.type)
    assert handler is not None
    handled = SyncContext(ctx.runtime, event)
    handler.run(handled, event)
    return handled


def linked_account(store: Store, organization_id: str) -> int | None:
    with store.session() as session:
        account: int | None = session.scalar(
            select(CrossReference.account_id).where(
                CrossReference.system == "zendesk",
                CrossReference.object_type == "organization",
                CrossReference.external_id == organization_id,
            )
        )
    return account


class TestZendeskOrganizations:
    def test_an_organization_whose_external_id_names_a_company_joins_its_account(
        self, context: Context, sandbox: Any, store: Store
    ) -> None:
        ctx = context()
        company, account = company_account(ctx, sandbox)
        organization = token()

        handled = apply(ctx, organization_event(organization, company))

        assert handled.account_id == account
        assert linked_account(store, organization) == account

    def test_an_organization_of_no_known_customer_is_skipped_and_not_linked(
        self, context: Context, store: Store
    ) -> None:
        organization = token()

        with pytest.raises(Skip, match="matches no account"):
            apply(context(), organization_event(organization, None))

        assert linked_account(store, organization) is None

    def test_a_new_external_id_naming_another_customer_is_held(
        self, context: Context, sandbox: Any, store: Store
    ) -> None:
        ctx = context()
        first, account = company_account(ctx, sandbox)
        second, _ = company_account(ctx, sandbox)
        organization = token()
        apply(ctx, organization_event(organization, first))

        with pytest.raises(HeldError, match="new external id names account"):
            apply(ctx, organization_event(organization, second, "external_id_changed"))

        assert linked_account(store, organization) == account
