"""Gates from the mapping file: conditions that must hold before revsync acts.

A failing gate raises ``HeldError`` with its reason; the event waits as ``held``
until an operator releases it (``revsync holds release``). A released event passes
every gate it meets afterwards, replays included: the operator has decided.
"""

from __future__ import annotations

from typing import Any

from worker.errors import HeldError
from worker.mapping import Mapping
from worker.store import InboxEvent
from worker.sync.context import SyncContext


def released(ctx: SyncContext) -> bool:
    """True when an operator released the event being applied."""
    with ctx.runtime.store.session() as session:
        row = session.get(InboxEvent, ctx.event.inbox_id)
        return row is not None and row.released_at is not None


def compliance_problem(mapping: Mapping, country: str | None, vat: str | None) -> str:
    """Why a customer fails the compliance check, or "" when it passes."""
    code = (country or "").strip().upper()
    if code in mapping.gates.vat_required_countries and not (vat or "").strip():
        return f"compliance: a VAT number is required for customers in {code}"
    return ""


def check_compliance(
    ctx: SyncContext, *, what: str, country: str | None, vat: str | None
) -> None:
    """Hold the event unless the customer passes the compliance check.

    :raises HeldError: the check fails and no operator released the event.
    """
    problem = compliance_problem(ctx.mapping, country, vat)
    if problem and not released(ctx):
        raise HeldError(f"{problem} ({what}); release to sync anyway")


def contract_approved(mapping: Mapping, deal_properties: dict[str, Any]) -> bool:
    """True when no approval is required, or the deal carries the approval value."""
    approval = mapping.gates.contract_approval
    if approval is None:
        return True
    value = deal_properties.get(approval.property)
    return str(value or "").strip().lower() == approval.equals.strip().lower()
