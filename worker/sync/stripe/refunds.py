"""Money going back: refunds, credit notes and lost disputes as Odoo credit notes.

A refund becomes a credit note (``out_refund``) against the invoice it refunds,
posted and paid by an outbound payment in the Stripe journal, so the customer's
balance returns to zero. A Stripe credit note becomes the credit note itself, and
the refunds it lists are paid against it rather than getting credit notes of their
own. A lost dispute becomes a credit note paid by the funds Stripe withdrew.

Money given back carries back the tax it carried. A refund or lost dispute of a
taxed invoice credits each invoice line's share of the amount, with that line's
taxes, so that the credit note's tax is the invoice's tax in proportion and its
total is exactly what Stripe paid out; a Stripe credit note books its own lines
and tax amounts. Odoo computes the tax of every line itself, so each line is
priced for Odoo's rounding to land on the intended tax, and the cent or two that
leaves over is booked on an untaxed rounding line at the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from typing import Any
from weakref import WeakKeyDictionary

from worker.errors import PrerequisiteMissing
from worker.money import decimals, iso, prorate, to_amount, to_minor
from worker.odoo.catalog import Catalog
from worker.odoo.client import external_id, qualified
from worker.sync.context import Event, Skip, SyncContext
from worker.sync.registry import handles
from worker.sync.stripe.invoices import MOVE_STATES
from worker.sync.stripe.keys import ref_id, stripe_lock
from worker.sync.stripe.partners import ensure_partner
from worker.sync.stripe.payments import run_payment_wizard
from worker.sync.stripe.shapes import credit_note_line

# A credit note line as written: label, price in minor units, Odoo tax ids.
Line = tuple[str, int, tuple[int, ...]]
# How far from the proportional price a line's price may move to hit its tax.
PRICE_SEARCH = 1_000


@dataclass(frozen=True)
class Portion:
    """What one line credits, in minor units: before tax, and the tax on it."""

    name: str
    untaxed: int
    tax: int
    tax_ids: tuple[int, ...]


@dataclass(frozen=True)
class Percent:
    """An Odoo percentage tax, the only kind whose share revsync books."""

    amount: float
    included: bool


# Tax definitions per Odoo (one catalog each), read once per worker like the ids.
_TAX_RULES: WeakKeyDictionary[Catalog, dict[int, Percent | None]] = WeakKeyDictionary()


def tax_rules(ctx: SyncContext, tax_ids: Iterable[int]) -> dict[int, Percent | None]:
    """Each tax as a percentage, or None for a kind revsync does not prorate."""
    wanted = set(tax_ids)
    known = _TAX_RULES.setdefault(ctx.catalog, {})
    missing = sorted(wanted - known.keys())
    if missing:
        for row in ctx.odoo.read(
            "account.tax", missing, ["amount", "amount_type", "price_include"]
        ):
            known[int(row["id"])] = (
                Percent(float(row["amount"]), bool(row["price_include"]))
                if row["amount_type"] == "percent"
                else None
            )
    return {tax_id: known.get(tax_id) for tax_id in wanted}


def prorated(portions: Sequence[Portion], gross: int) -> list[Portion]:
    """The share of ``portions`` a credit of ``gross`` takes, in minor units.

    The tax credited is the portions' tax in proportion, rounded once; each line
    gets its share, the last taxed line the tax left over by rounding and the last
    line the rest, so the shares add up to ``gross`` exactly. Crediting the whole
    returns the portions themselves.
    """
    portions = [p for p in portions if p.untaxed or p.tax]
    whole = sum(p.untaxed + p.tax for p in portions)
    if not portions or whole == 0:
        return []
    tax = prorate(sum(p.tax for p in portions), gross, whole)
    shares = [
        replace(
            p,
            untaxed=prorate(p.untaxed, gross, whole),
            tax=prorate(p.tax, gross, whole),
        )
        for p in portions
    ]
    taxed = [index for index, p in enumerate(portions) if p.tax]
    if taxed:
        last = shares[taxed[-1]]
        shares[taxed[-1]] = replace(
            last, tax=last.tax + tax - sum(s.tax for s in shares)
        )
    rest = gross - sum(s.untaxed + s.tax for s in shares)
    shares[-1] = replace(shares[-1], untaxed=shares[-1].untaxed + rest)
    return shares


def odoo_tax(rule: Percent, price: int, currency: str) -> tuple[int, int] | None:
    """(untaxed, tax) Odoo computes for one unit at ``price`` (minor units).

    None when the unrounded tax sits on a half, where float noise decides.
    """
    scale = 10 ** decimals(currency)
    base = price / scale
    if rule.included:
        raw = base - base * 100 / (100 + rule.amount)
    else:
        raw = base * rule.amount / 100
    minor = abs(raw) * scale
    if abs(minor % 1 - 0.5) < 1e-6:
        return None
    tax = int(math.copysign(math.floor(minor + 0.5), raw))
    return (price - tax if rule.included else price), tax


def _priced(portion: Portion, rule: Percent, currency: str) -> tuple[int, int] | None:
    """The price closest to the portion's whose tax Odoo rounds to the portion's
    tax, with the untaxed amount it leaves over; None when there is none."""
    start = portion.untaxed + (portion.tax if rule.included else 0)
    for step in range(PRICE_SEARCH):
        for price in (start + step, start - step) if step else (start,):
            computed = odoo_tax(rule, price, currency)
            if computed is not None and computed[1] == portion.tax:
                return price, portion.untaxed - computed[0]
    return None


def credit_lines(
    ctx: SyncContext, portions: Sequence[Portion], currency: str, label: str
) -> list[Line]:
    """The lines that make Odoo book ``portions``: each taxed line priced so
    Odoo's tax on it is the portion's, then one untaxed line with what rounding
    left over. A line whose taxes are not one percentage is credited gross,
    without tax, so the total still holds."""
    rules = tax_rules(ctx, {i for p in portions if p.tax for i in p.tax_ids})
    lines: list[Line] = []
    rounding = 0
    for portion in portions:
        rule = rules.get(portion.tax_ids[0]) if len(portion.tax_ids) == 1 else None
        found = _priced(portion, rule, currency) if rule and portion.tax else None
        if found is None:
            if portion.untaxed + portion.tax:
                lines.append((portion.name, portion.untaxed + portion.tax, ()))
            continue
        price, left = found
        lines.append((portion.name, price, portion.tax_ids))
        rounding += left
    if rounding:
        lines.append((f"{label}: rounding", rounding, ()))
    return lines


def refund_lines(
    ctx: SyncContext, invoice_move: int, gross: int, currency: str, label: str
) -> list[Line]:
    """The lines crediting ``gross`` of an invoice: one untaxed line when the
    invoice carries no tax, else each invoice line's share with its taxes."""
    rows = ctx.odoo.search_read(
        "account.move.line",
        [("move_id", "=", invoice_move), ("display_type", "=", "product")],
        ["name", "tax_ids", "price_subtotal", "price_total"],
    )
    portions = []
    for row in sorted(rows, key=lambda row: int(row["id"])):
        untaxed = to_minor(row["price_subtotal"], currency)
        tax = to_minor(row["price_total"], currency) - untaxed
        portions.append(
            Portion(
                name=f"{label}: {row['name'] or 'invoice line'}",
                untaxed=untaxed,
                tax=tax,
                tax_ids=tuple(sorted(row["tax_ids"])) if tax else (),
            )
        )
    shares = prorated(portions, gross) if any(p.tax for p in portions) else []
    if not shares:
        return [(label, gross, ())]
    return credit_lines(ctx, shares, currency, label) or [(label, gross, ())]


def note_lines(
    ctx: SyncContext, note: dict[str, Any], gross: int, currency: str, label: str
) -> list[Line]:
    """The lines crediting ``gross`` of a Stripe credit note: its own lines with
    their tax amounts, in proportion when part of the note is booked already.
    A line taxed at a rate the mapping does not know is credited gross."""
    portions = []
    for raw in (note.get("lines") or {}).get("data") or []:
        line = credit_note_line(raw)
        name = line.description or label
        names = [ctx.mapping.taxes.get(rate) for rate in line.tax_rate_ids]
        if line.tax and names and all(names):
            tax_ids = tuple(ctx.catalog.taxes(name for name in names if name))
            portions.append(Portion(name, line.untaxed, line.tax, tax_ids))
        else:
            portions.append(Portion(name, line.untaxed + line.tax, 0, ()))
    shares = prorated(portions, gross)
    if not shares:
        return [(label, gross, ())]
    return credit_lines(ctx, shares, currency, label) or [(label, gross, ())]


def invoice_of_payment(ctx: SyncContext, *keys: str | None) -> tuple[str, int]:
    """The Stripe invoice id and Odoo move id a charge or PaymentIntent paid."""
    for key in keys:
        if not key:
            continue
        payment = ctx.xref("stripe", "payment", key)
        if payment is not None and payment.parent_id:
            invoice = ctx.xref("stripe", "invoice", payment.parent_id)
            if invoice is not None and invoice.odoo_id:
                ctx.account_id = invoice.account_id
                return payment.parent_id, int(invoice.odoo_id)
    first = next((key for key in keys if key), "unknown")
    raise PrerequisiteMissing(
        f"waiting for stripe payment {first} to be registered",
        key=f"stripe:payment:{first}",
        delay=2,
    )


def credit_note(
    ctx: SyncContext,
    *,
    kind: str,
    key: str,
    invoice_id: str,
    invoice_move: int,
    customer: str,
    currency: str,
    lines: Callable[[], list[Line]],
    reason: str,
) -> int:
    """Create and post the credit note ``kind``/``key`` once; return its move id.

    ``lines`` is asked for the lines only when they are to be written, since
    finding them may read Odoo.

    Only a Stripe credit note names its invoice as the entry it reverses. Odoo
    reconciles a posted reversal with its invoice by itself whenever the two
    happen to offset exactly, and a refund or lost dispute is settled by money
    paid out, not against the invoice: linked that way, its booking would depend
    on whether the invoice's last payment had been registered yet. Those name
    their invoice in ``invoice_origin`` instead.
    """
    xref = ctx.xref("stripe", kind, key)
    state = ctx.settled_state(xref, MOVE_STATES)
    if xref is not None and xref.odoo_id and state in ("posted", "paid", "reconciled"):
        return int(xref.odoo_id)
    partner_id = ensure_partner(ctx, customer)
    xmlid = qualified(external_id("stripe", kind, key))
    move_id = int(xref.odoo_id) if xref and xref.odoo_id else None
    if move_id is None:
        move_id, state = ctx.recover("account.move", xmlid)
        if move_id is not None and state == "posted":
            _link(ctx, kind, key, move_id, invoice_id, "posted")
            return move_id

    if move_id is None:
        code = iso(currency)
        move_id = ctx.odoo.load_record(
            "account.move",
            xmlid,
            {
                "move_type": "out_refund",
                "partner_id/.id": partner_id,
                "currency_id/.id": ctx.catalog.currency(code),
                "journal_id/.id": ctx.catalog.journal(ctx.mapping.sales_journal),
                **(
                    {"reversed_entry_id/.id": invoice_move}
                    if kind == "credit_note"
                    else {"invoice_origin": invoice_id}
                ),
                "ref": f"{reason} {key}",
                "payment_reference": key,
                "invoice_date": date.today().isoformat(),
            },
        )
        ctx.audit(
            system="odoo",
            model="account.move",
            record_id=move_id,
            operation="create",
            fields=["move_type", "partner_id", "currency_id", "reversed_entry_id"],
            note=f"{kind} {key}",
        )
        _link(ctx, kind, key, move_id, invoice_id, "draft")

    commands: list[Any] = [(5, 0, 0)]
    for name, minor, tax_ids in lines():
        commands.append(
            (
                0,
                0,
                {
                    "name": name,
                    "quantity": 1,
                    "price_unit": to_amount(minor, currency),
                    "tax_ids": [(6, 0, list(tax_ids))],
                },
            )
        )
    ctx.unsettle("stripe", kind, key)
    ctx.odoo.call("account.move", "write", [move_id], {"invoice_line_ids": commands})
    ctx.odoo.act("account.move", "action_post", [move_id])
    ctx.audit(
        system="odoo",
        model="account.move",
        record_id=move_id,
        operation="post",
        fields=["invoice_line_ids", "state"],
    )
    _link(ctx, kind, key, move_id, invoice_id, "posted")
    ctx.landed.add(f"stripe:{kind}:{key}")
    return move_id


def _link(
    ctx: SyncContext, kind: str, key: str, move_id: int, invoice_id: str, state: str
) -> None:
    ctx.link(
        "stripe",
        kind,
        key,
        odoo_model="account.move",
        odoo_id=move_id,
        account_id=ctx.account_id,
        parent_id=invoice_id,
        state=state,
    )


def pay_out(
    ctx: SyncContext, *, key: str, move_id: int, amount: int, currency: str
) -> int:
    """Register the outbound payment ``key`` (money that left through Stripe) once."""
    xref = ctx.xref("stripe", "refund_payment", key)
    if xref is not None and xref.odoo_id:
        return int(xref.odoo_id)
    payment_id = run_payment_wizard(
        ctx,
        move_id,
        amount=amount,
        currency=currency,
        memo=key,
        note=f"outbound payment {key}",
    )
    return _link_payment(ctx, key, payment_id)


def _link_payment(ctx: SyncContext, key: str, payment_id: int) -> int:
    ctx.link(
        "stripe",
        "refund_payment",
        key,
        odoo_model="account.payment",
        odoo_id=payment_id,
        account_id=ctx.account_id,
        state="paid",
    )
    return payment_id


def apply_refund(ctx: SyncContext, refund: dict[str, Any], customer: str) -> None:
    """A succeeded refund: its credit note (or its Stripe credit note's) is paid."""
    refund_id = str(refund["id"])
    if refund.get("status") != "succeeded":
        raise Skip(
            f"refund is {refund.get('status')}; only succeeded refunds are booked"
        )
    done = ctx.xref("stripe", "refund_payment", refund_id)
    if done is not None and done.odoo_id:
        raise Skip("refund already booked")
    invoice_id, invoice_move = invoice_of_payment(
        ctx, ref_id(refund.get("payment_intent")), ref_id(refund.get("charge"))
    )
    currency = str(refund.get("currency") or "")
    amount = int(refund.get("amount") or 0)

    covered = ctx.xref("stripe", "refund", refund_id)
    if (
        covered is not None
        and covered.parent_id
        and covered.parent_id.startswith("cn_")
    ):
        note = ctx.xref("stripe", "credit_note", covered.parent_id)
        if note is None or not note.odoo_id:
            raise PrerequisiteMissing(
                f"waiting for stripe credit note {covered.parent_id}",
                key=f"stripe:credit_note:{covered.parent_id}",
            )
        move_id = int(note.odoo_id)
    else:
        move_id = credit_note(
            ctx,
            kind="refund",
            key=refund_id,
            invoice_id=invoice_id,
            invoice_move=invoice_move,
            customer=customer,
            currency=currency,
            lines=lambda: refund_lines(
                ctx, invoice_move, amount, currency, f"Stripe refund {refund_id}"
            ),
            reason="Stripe refund",
        )
    pay_out(ctx, key=refund_id, move_id=move_id, amount=amount, currency=currency)


def refund_customer(ctx: SyncContext, refund: dict[str, Any]) -> str:
    """Refunds do not always name their customer; their payment does."""
    for key in (ref_id(refund.get("payment_intent")), ref_id(refund.get("charge"))):
        payment = ctx.xref("stripe", "payment", key) if key else None
        if payment is not None and payment.parent_id:
            invoice = ctx.xref("stripe", "invoice", payment.parent_id)
            ctx.account_id = invoice.account_id if invoice else None
            customer = ctx.xref_of_account("stripe", "customer")
            if customer is not None:
                return customer.external_id
    first = ref_id(refund.get("payment_intent")) or ref_id(refund.get("charge"))
    raise PrerequisiteMissing(
        f"waiting for stripe payment {first} to be registered",
        key=f"stripe:payment:{first}",
        delay=2,
    )


@handles(
    "stripe", "refund.created", "refund.updated", lock=stripe_lock, queue="default"
)
def sync_refund(ctx: SyncContext, event: Event) -> None:
    refund = event.object
    customer = ref_id(refund.get("customer")) or refund_customer(ctx, refund)
    apply_refund(ctx, refund, customer)


@handles("stripe", "charge.refunded", lock=stripe_lock, queue="default")
def sync_charge_refunded(ctx: SyncContext, event: Event) -> None:
    charge = event.object
    refunds = (charge.get("refunds") or {}).get("data") or []
    if not refunds:
        raise Skip("the charge lists no refunds; refund.* events book them")
    customer = ref_id(charge.get("customer")) or ""
    booked = 0
    for refund in refunds:
        if refund.get("status") != "succeeded":
            continue
        done = ctx.xref("stripe", "refund_payment", str(refund["id"]))
        if done is not None and done.odoo_id:
            continue
        apply_refund(ctx, refund, customer)
        booked += 1
    if not booked:
        raise Skip("every refund of this charge is booked already")


@handles(
    "stripe",
    "credit_note.created",
    "credit_note.updated",
    "credit_note.voided",
    lock=stripe_lock,
    queue="default",
)
def sync_credit_note(ctx: SyncContext, event: Event) -> None:
    note = event.object
    note_id = str(note["id"])
    invoice_id = ref_id(note.get("invoice"))
    if invoice_id is None:
        raise Skip("credit note without an invoice")
    voided = note.get("status") == "void" or event.type == "credit_note.voided"
    rank = 1 if voided else 0
    if ctx.is_stale("stripe", "credit_note", note_id, event.created, rank):
        raise Skip("stale: a newer state of this credit note was applied already")
    invoice = ctx.xref("stripe", "invoice", invoice_id)
    if invoice is not None:
        ctx.account_id = invoice.account_id
    if voided:
        # Remember the void first: a creation arriving later is then stale.
        ctx.set_version(
            "stripe",
            "credit_note",
            note_id,
            source_ts=event.created,
            rank=rank,
            status="void",
        )
        _void(ctx, note_id)
        return
    # Crediting a draft would leave the two unreconciled: wait for the posting.
    posted = ctx.settled_state(invoice, MOVE_STATES) == "posted"
    if invoice is None or not invoice.odoo_id or not posted:
        raise PrerequisiteMissing(
            f"waiting for stripe invoice {invoice_id} to be finalized",
            key=f"stripe:invoice:{invoice_id}",
            delay=2,
        )
    currency = str(note.get("currency") or "")
    backing = _note_refunds(note)
    refund_ids = list(backing)
    # A refund booked before this note arrived has its own credit note already.
    booked = [
        refund_id
        for refund_id in refund_ids
        if (xref := ctx.xref("stripe", "refund", refund_id)) is not None
        and xref.odoo_id
    ]
    # Which the note's booking leaves out, or they would be credited twice.
    gross = int(note.get("total") or note.get("amount") or 0) - sum(
        _booked_amount(ctx, refund_id, backing[refund_id], currency)
        for refund_id in booked
    )
    if booked and (booked == refund_ids or gross <= 0):
        ctx.link(
            "stripe",
            "credit_note",
            note_id,
            odoo_model=None,
            odoo_id=None,
            account_id=ctx.account_id,
            parent_id=booked[0],
            state="covered",
        )
        ctx.set_version(
            "stripe",
            "credit_note",
            note_id,
            source_ts=event.created,
            rank=rank,
            status="covered",
        )
        raise Skip("the refunds of this credit note are booked as credit notes")

    label = f"Stripe credit note {note_id}"
    move_id = credit_note(
        ctx,
        kind="credit_note",
        key=note_id,
        invoice_id=invoice_id,
        invoice_move=int(invoice.odoo_id),
        customer=ref_id(note.get("customer")) or "",
        currency=currency,
        lines=lambda: note_lines(ctx, note, gross, currency, label),
        reason="Stripe credit note",
    )
    if _lowers_amount_due(note):
        reconcile_with_invoice(ctx, move_id, int(invoice.odoo_id))
    for refund_id in refund_ids:
        if refund_id in booked:
            continue
        # The refund is paid against this credit note instead of one of its own.
        ctx.link(
            "stripe",
            "refund",
            refund_id,
            odoo_model=None,
            odoo_id=None,
            account_id=ctx.account_id,
            parent_id=note_id,
        )
    ctx.set_version(
        "stripe",
        "credit_note",
        note_id,
        source_ts=event.created,
        rank=rank,
        status="issued",
    )


def _note_refunds(note: dict[str, Any]) -> dict[str, int | None]:
    """The refunds a credit note lists, with the part of the note each backs when
    the note says (basil ``refunds[].amount_refunded``)."""
    backing: dict[str, int | None] = {}
    for entry in note.get("refunds") or []:
        listed = isinstance(entry, dict) and entry.get("object") != "refund"
        refund_id = ref_id(entry.get("refund") if listed else entry)
        amount = entry.get("amount_refunded") if listed else None
        if refund_id and refund_id not in backing:
            backing[refund_id] = int(amount) if amount is not None else None
    # Before basil a note named one refund, possibly expanded.
    legacy = ref_id(note.get("refund"))
    if legacy and legacy not in backing:
        backing[legacy] = None
    return backing


def _booked_amount(
    ctx: SyncContext, refund_id: str, amount: int | None, currency: str
) -> int:
    """What the booked refund's own credit note credited of this note."""
    if amount is not None:
        return amount
    xref = ctx.xref("stripe", "refund", refund_id)
    if xref is None or not xref.odoo_id:
        return 0
    rows = ctx.odoo.read("account.move", [int(xref.odoo_id)], ["amount_total"])
    return to_minor(rows[0]["amount_total"], currency) if rows else 0


def _lowers_amount_due(note: dict[str, Any]) -> bool:
    """A credit note issued before the invoice was paid reduces what is due."""
    if int(note.get("pre_payment_amount") or 0) > 0:
        return True
    return note.get("type") in ("pre_payment", "mixed")


def reconcile_with_invoice(ctx: SyncContext, note_move: int, invoice_move: int) -> None:
    """Match the credit note with the invoice it credits, once.

    Odoo does this by itself only when the two cancel out exactly; a partial
    credit is matched the way the invoice's "Add" button on outstanding credits
    does it.
    """
    xref = ctx.xref_by_odoo("account.move", note_move)
    if xref is not None and xref.state == "reconciled":
        return
    lines = ctx.odoo.search_read(
        "account.move.line",
        [
            ("move_id", "=", note_move),
            ("account_id.account_type", "=", "asset_receivable"),
            ("reconciled", "=", False),
        ],
        ["id"],
    )
    if lines:
        ctx.odoo.act(
            "account.move", "js_assign_outstanding_line", [invoice_move], lines[0]["id"]
        )
        ctx.audit(
            system="odoo",
            model="account.move",
            record_id=invoice_move,
            operation="reconcile",
            fields=["amount_residual"],
            note=f"with credit note move {note_move}",
        )
    if xref is not None:
        ctx.link(
            xref.system,
            xref.object_type,
            xref.external_id,
            odoo_model="account.move",
            odoo_id=note_move,
            state="reconciled",
        )


def _void(ctx: SyncContext, note_id: str) -> None:
    xref = ctx.xref("stripe", "credit_note", note_id)
    if xref is None or not xref.odoo_id:
        raise Skip("voided credit note was never booked")
    state = ctx.settled_state(xref, MOVE_STATES)
    if state == "cancelled":
        raise Skip("credit note already cancelled")
    ctx.unsettle("stripe", "credit_note", note_id)
    if state == "posted":
        ctx.odoo.act("account.move", "button_draft", [xref.odoo_id])
    ctx.odoo.act("account.move", "button_cancel", [xref.odoo_id])
    ctx.audit(
        system="odoo",
        model="account.move",
        record_id=xref.odoo_id,
        operation="cancel",
        fields=["state"],
    )
    ctx.link(
        "stripe",
        "credit_note",
        note_id,
        odoo_model="account.move",
        odoo_id=xref.odoo_id,
        state="cancelled",
    )
