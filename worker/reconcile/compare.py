"""What Stripe says against what Odoo holds, one Stripe object at a time.

Each Stripe object is summarised as a ``Fact``: its id, the kind of Odoo record it
should have become, the amount, currency and state it should show, and the event
type that would bring Odoo there. Comparing a fact with the Odoo records found for
it gives zero or more ``Mismatch``; none of them carries customer data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from worker.money import to_amount

MISSING = "missing_in_odoo"
AMOUNT = "amount"
CURRENCY = "currency"
STATE = "state"
ORPHAN = "orphan_in_odoo"
DUPLICATE = "duplicate"
KINDS = (MISSING, AMOUNT, CURRENCY, STATE, ORPHAN, DUPLICATE)

PAID_STATES = ("paid", "in_payment", "reversed")


@dataclass(frozen=True)
class Target:
    """Where one kind of Stripe object lands in Odoo."""

    object_type: str  # the xref object type
    model: str
    ref_field: str  # the Odoo field that carries the Stripe id
    move_type: str | None = None

    @property
    def fields(self) -> list[str]:
        if self.model == "account.move":
            return [
                self.ref_field,
                "move_type",
                "state",
                "payment_state",
                "amount_total",
                "currency_id",
            ]
        return [self.ref_field, "state", "amount", "currency_id"]

    def domain(self, ids: list[int], refs: list[str]) -> list[Any]:
        found: list[Any] = ["|", ("id", "in", ids), (self.ref_field, "in", refs)]
        if self.move_type:
            return ["&", ("move_type", "=", self.move_type), *found]
        return found


INVOICE = Target("invoice", "account.move", "payment_reference", "out_invoice")
CREDIT_NOTE = Target("credit_note", "account.move", "payment_reference", "out_refund")
PAYMENT = Target("payment", "account.payment", "memo")
REFUND = Target("refund_payment", "account.payment", "memo")
TARGETS = {t.object_type: t for t in (INVOICE, CREDIT_NOTE, PAYMENT, REFUND)}


@dataclass
class Fact:
    """One Stripe object as reconciliation sees it."""

    target: Target
    stripe_id: str
    amount: int
    currency: str
    status: str
    # The event type and object that re-sync it, and where to read it again.
    heal_type: str
    heal_object: dict[str, Any]
    path: str
    invoice: str | None = None


@dataclass
class Mismatch:
    kind: str
    object_type: str
    stripe_id: str
    odoo_model: str | None
    odoo_ids: list[int]
    detail: dict[str, Any]
    healable: bool
    heal_type: str | None = None
    heal_object: dict[str, Any] | None = field(default=None, repr=False)
    path: str | None = None
    inbox_id: int | None = None

    @property
    def action(self) -> str:
        return "healed" if self.healable else "exception"


def _currency(row: dict[str, Any]) -> str:
    value = row.get("currency_id")
    if isinstance(value, list | tuple) and len(value) > 1:
        return str(value[1]).upper()
    return ""


def _state(target: Target, row: dict[str, Any]) -> str:
    if target.model == "account.move":
        if row["state"] == "posted" and row.get("payment_state") in PAID_STATES:
            return "paid"
        return str(row["state"])
    return str(row["state"])


def compare(fact: Fact, rows: list[dict[str, Any]]) -> list[Mismatch]:
    """The mismatches between ``fact`` and the Odoo records found for it."""
    target = fact.target

    def mismatch(kind: str, healable: bool, **detail: Any) -> Mismatch:
        return Mismatch(
            kind=kind,
            object_type=target.object_type,
            stripe_id=fact.stripe_id,
            odoo_model=target.model,
            odoo_ids=sorted(int(row["id"]) for row in rows),
            detail={"stripe_status": fact.status, **detail},
            healable=healable,
            heal_type=fact.heal_type if healable else None,
            heal_object=fact.heal_object if healable else None,
            path=fact.path,
        )

    if not rows:
        return [mismatch(MISSING, True)]
    if len(rows) > 1:
        return [mismatch(DUPLICATE, False, odoo_records=len(rows))]

    row = rows[0]
    found: list[Mismatch] = []
    expected = to_amount(fact.amount, fact.currency)
    actual = float(row.get("amount_total", row.get("amount")) or 0.0)
    if abs(expected - actual) > 1e-6 and _state(target, row) not in ("draft", "cancel"):
        found.append(
            mismatch(AMOUNT, False, stripe_amount=expected, odoo_amount=actual)
        )
    if _currency(row) != fact.currency.upper():
        found.append(
            mismatch(
                CURRENCY,
                False,
                stripe_currency=fact.currency.upper(),
                odoo_currency=_currency(row),
            )
        )
    state = _state(target, row)
    behind, ahead = _state_gap(fact, state)
    if behind or ahead:
        # Odoo behind Stripe is what a re-sync fixes; Odoo ahead needs a person.
        found.append(mismatch(STATE, behind, odoo_state=state))
    return found


def _state_gap(fact: Fact, odoo: str) -> tuple[bool, bool]:
    """(Odoo is behind Stripe, Odoo is ahead of Stripe) for one record."""
    status = fact.status
    if fact.target.model == "account.payment":
        return False, odoo == "canceled"
    if status == "void":
        return odoo in ("draft", "posted", "paid"), False
    if status == "paid":
        return odoo in ("draft", "posted"), odoo == "cancel"
    if status in ("open", "uncollectible", "issued"):
        ahead = odoo == "cancel" or (odoo == "paid" and fact.amount > 0 and _owed(fact))
        return odoo == "draft", ahead
    return False, False


def _owed(fact: Fact) -> bool:
    """An open invoice with something left to pay; a credit note is never owed."""
    if fact.target is not INVOICE:
        return False
    return int(fact.heal_object.get("amount_remaining") or 0) > 0
