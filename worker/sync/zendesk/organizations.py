"""A Zendesk organization joins the account it belongs to.

Zendesk is never a source of customers: an organization is linked to an account
revsync already knows (by its ``external_id``, then its domains where the mapping
allows it), so that support sees that customer's billing health. Linking writes
nothing to Odoo; the write-back that follows an applied event sends the account's
billing health to the organization. An organization that matches no account is
skipped with the reason, and one that matches two is held for an operator.
"""

from __future__ import annotations

from typing import Any

from worker.errors import HeldError
from worker.identity import resolve_zendesk_organization
from worker.runtime import Runtime
from worker.sync.context import Event, Skip, SyncContext
from worker.sync.registry import handles

# Events whose organization may now name a customer.
LINKING_EVENTS = ("organization.created", "organization.external_id_changed")


def organization_of(payload: dict[str, Any]) -> dict[str, Any]:
    """The organization as the event describes it, with its current external id."""
    detail = payload.get("detail")
    organization = dict(detail) if isinstance(detail, dict) else {}
    change = payload.get("event")
    if isinstance(change, dict) and "current" in change:
        organization["external_id"] = change.get("current")
    if not organization.get("id"):
        subject = str(payload.get("subject") or "")
        organization["id"] = subject.rpartition(":")[2]
    return organization


def organization_lock(runtime: Runtime, event: Event) -> str:
    return f"zendesk:organization:{organization_of(event.payload).get('id')}"


@handles("zendesk", *LINKING_EVENTS, lock=organization_lock, queue="bulk")
def link_organization(ctx: SyncContext, event: Event) -> None:
    organization = organization_of(event.payload)
    organization_id = str(organization.get("id") or "")
    if not organization_id.isdigit():
        raise Skip("zendesk event names no organization")
    linked = ctx.xref("zendesk", "organization", organization_id)
    if linked is not None and event.type == "organization.external_id_changed":
        # The organization keeps its account; a new external id that names
        # another customer is for an operator to settle, not a silent move.
        named = resolve_zendesk_organization(ctx, {**organization, "id": ""})
        if named is not None and named != linked.account_id:
            raise HeldError(
                f"zendesk organization {organization_id} belongs to account "
                f"{linked.account_id}, but its new external id names account {named}"
            )
    account_id = resolve_zendesk_organization(ctx, organization)
    if account_id is None:
        raise Skip(f"zendesk organization {organization_id} matches no account")
    ctx.link(
        "zendesk",
        "organization",
        organization_id,
        odoo_model=None,
        odoo_id=None,
        account_id=account_id,
    )
