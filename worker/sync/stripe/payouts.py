"""A paid Stripe payout becomes one entry in the bank journal.

Stripe pays out the net of what it collected: payments, less refunds, disputes and
its fees. revsync books every payment and refund as an Odoo payment in the Stripe
journal, which parks the money on the payment's outstanding account (Outstanding
Receipts for money in, Outstanding Payments for money out). The payout's entry
(``revsync.stripe_payout_<id>``) takes it out again, line by line from the payout's
balance transactions: each payment is credited and each refund debited on the
account its payment used, the fees go to the fee account and the net to the bank
journal's account. The payment lines are then reconciled with the entry's, so the
outstanding accounts return to zero and every payment shows as matched.

A payout containing a payment or refund revsync has not booked yet waits for it
rather than booking the money anywhere else: the payment's own event (or a
backfill) brings it, since a charge alone does not say which invoice it paid, and
the payment's landing wakes the payout. A payout that later fails or is canceled
has its entry cancelled, which undoes the matching.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from worker.errors import PermanentError, PrerequisiteMissing
from worker.money import iso, to_amount
from worker.odoo.client import external_id, qualified
from worker.store import CrossReference, utcnow
from worker.stripe_api import StripeAPI, stripe_api
from worker.sync.context import Event, Skip, SyncContext
from worker.sync.registry import handles
from worker.sync.stripe.keys import ref_id, stripe_lock

PAYMENT_TYPES = ("charge", "payment")
REFUND_TYPES = ("refund", "payment_refund")
# Stripe's own charges, booked like the fees of each transaction.
FEE_TYPES = ("stripe_fee", "stripe_fx_fee", "tax_fee")
# Later states win over earlier ones that arrive late.
RANK = {"paid": 1, "failed": 2, "canceled": 2}


@dataclass(frozen=True)
class Movement:
    """One balance transaction of the payout, as the entry books it.

    ``payment`` is the Odoo payment that carried the money, when there is one;
    ``fee_only`` marks Stripe's own charges, which go to the fee account.
    ``amount`` is signed (money into Stripe is positive), in minor units.
    """

    label: str
    amount: int
    fee: int
    payment: int | None
    fee_only: bool = False


def payout_xmlid(payout_id: str) -> str:
    return qualified(external_id("stripe", "payout", payout_id))


def _date(stamp: Any) -> str:
    return datetime.fromtimestamp(int(stamp or 0), UTC).date().isoformat()


def _api(ctx: SyncContext) -> StripeAPI:
    api = stripe_api(ctx.runtime.settings)
    if api is None:
        raise PermanentError(
            "STRIPE_API_KEY is not set: a payout is booked from its balance "
            "transactions, which only the Stripe API lists"
        )
    return api


def _payment_key(api: StripeAPI, source: Any) -> str:
    """What revsync keys a payment by: its PaymentIntent, else the charge."""
    if not isinstance(source, dict):
        source = api.get(f"/v1/charges/{source}")
    return ref_id(source.get("payment_intent")) or str(source["id"])


def movements(
    ctx: SyncContext, api: StripeAPI, payout_id: str
) -> tuple[list[Movement], int]:
    """The payout's balance transactions, each tied to its Odoo payment.

    :returns: the movements and the sum of their nets, which is what reached the
        bank.
    :raises PrerequisiteMissing: a payment or refund in it is not booked yet.
    """
    listed = api.list_all(
        "/v1/balance_transactions", payout=payout_id, **{"expand[]": "data.source"}
    )
    found: list[Movement] = []
    net = 0
    for txn in listed:
        kind = str(txn.get("type") or "")
        if kind == "payout":
            # The payout's own transaction: the money leaving for the bank.
            continue
        source = txn.get("source")
        source_id = ref_id(source) or str(txn["id"])
        # Unique within the entry, and what finance finds in Stripe's report.
        suffix = f"({txn['id']})"
        amount, fee = int(txn.get("amount") or 0), int(txn.get("fee") or 0)
        net += int(txn.get("net", amount - fee))
        if kind in PAYMENT_TYPES:
            key = _payment_key(api, source)
            found.append(
                Movement(
                    f"Stripe payment {key} {suffix}", amount, fee, _booked(ctx, key)
                )
            )
        elif kind in REFUND_TYPES:
            payment = _refund_payment(ctx, source_id)
            if payment is None:
                raise PrerequisiteMissing(
                    f"payout {payout_id} waits for stripe refund {source_id}",
                    key=f"stripe:refund:{source_id}",
                    delay=5,
                )
            found.append(
                Movement(f"Stripe refund {source_id} {suffix}", amount, fee, payment)
            )
        else:
            # Dispute withdrawals and reinstatements, adjustments: a lost
            # dispute's payment out is matched, the rest stays open.
            found.append(
                Movement(
                    f"Stripe {kind} {source_id} {suffix}",
                    amount,
                    fee,
                    _refund_payment(ctx, source_id),
                    fee_only=kind in FEE_TYPES,
                )
            )
    return found, net


def _booked(ctx: SyncContext, key: str) -> int:
    xref = ctx.xref("stripe", "payment", key)
    if xref is None or not xref.odoo_id:
        raise PrerequisiteMissing(
            f"payout waits for stripe payment {key} to be registered",
            key=f"stripe:payment:{key}",
            delay=5,
        )
    return int(xref.odoo_id)


def _refund_payment(ctx: SyncContext, key: str) -> int | None:
    xref = ctx.xref("stripe", "refund_payment", key)
    return int(xref.odoo_id) if xref is not None and xref.odoo_id else None


def _account(ctx: SyncContext, code: str) -> int:
    rows = ctx.odoo.search_read("account.account", [("code", "=", code)], ["id"])
    if len(rows) != 1:
        raise PermanentError(
            f"Odoo has {'no' if not rows else 'several'} account with code {code} "
            "(mapping [payouts])"
        )
    return int(rows[0]["id"])


def entry_lines(
    ctx: SyncContext, payout: dict[str, Any], found: list[Movement]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The entry's lines, and for each matched line the payment line it clears.

    Balances in the company currency are given on every line: a matched line
    takes the exact opposite of its payment's, so the two reconcile to zero
    whatever the rate, and the bank line takes what balances the entry.
    """
    currency = str(payout["currency"])
    currency_id = ctx.catalog.currency(iso(currency))
    rate = ctx.odoo.read("res.currency", [currency_id], ["rate"])[0]["rate"] or 1.0
    accounts = ctx.mapping.payouts
    journal = ctx.catalog.journal(accounts.bank_journal)
    bank = ctx.odoo.read("account.journal", [journal], ["default_account_id"])
    if not bank or not bank[0]["default_account_id"]:
        raise PermanentError(f"journal {accounts.bank_journal} has no default account")

    payment_ids = sorted({m.payment for m in found if m.payment is not None})
    payments = {
        row["id"]: row
        for row in ctx.odoo.read(
            "account.payment",
            payment_ids,
            ["move_id", "outstanding_account_id", "partner_id"],
        )
    }
    outstanding = {
        (row["move_id"][0], row["account_id"][0]): row
        for row in ctx.odoo.search_read(
            "account.move.line",
            [("move_id", "in", [p["move_id"][0] for p in payments.values()])],
            ["move_id", "account_id", "balance"],
        )
    }

    codes: dict[str, int] = {}

    def account_of(code: str) -> int:
        if code not in codes:
            codes[code] = _account(ctx, code)
        return codes[code]

    def company(minor: int) -> float:
        return round(to_amount(minor, currency) / rate, 2)

    lines: list[dict[str, Any]] = []
    matches: dict[str, int] = {}
    for movement in found:
        line: dict[str, Any] = {
            "name": movement.label,
            "currency_id": currency_id,
            "amount_currency": -to_amount(movement.amount, currency),
            "balance": -company(movement.amount),
        }
        payment = payments.get(movement.payment) if movement.payment else None
        if payment is None:
            line["account_id"] = account_of(
                accounts.fee_account
                if movement.fee_only
                else accounts.adjustment_account
            )
        else:
            account = payment["outstanding_account_id"][0]
            counterpart = outstanding.get((payment["move_id"][0], account))
            line["account_id"] = account
            line["partner_id"] = payment["partner_id"] and payment["partner_id"][0]
            if counterpart is not None:
                line["balance"] = -counterpart["balance"]
                matches[movement.label] = int(counterpart["id"])
        lines.append(line)
    fees = sum(m.fee for m in found)
    if fees:
        lines.append(
            {
                "name": "Stripe fees",
                "account_id": account_of(accounts.fee_account),
                "currency_id": currency_id,
                "amount_currency": to_amount(fees, currency),
                "balance": company(fees),
            }
        )
    lines.append(
        {
            "name": f"Stripe payout {payout['id']}",
            "account_id": bank[0]["default_account_id"][0],
            "currency_id": currency_id,
            "amount_currency": to_amount(int(payout["amount"]), currency),
            "balance": round(-sum(line["balance"] for line in lines), 2),
        }
    )
    return lines, matches


def book_payout(ctx: SyncContext, payout: dict[str, Any]) -> int:
    """Create, post and match the payout's entry once; return its move id."""
    payout_id = str(payout["id"])
    xmlid = payout_xmlid(payout_id)
    xref = ctx.xref("stripe", "payout", payout_id)
    move_id = int(xref.odoo_id) if xref is not None and xref.odoo_id else None
    state = xref.state if xref is not None else None
    if move_id is None:
        move_id, state = ctx.recover("account.move", xmlid)

    api = _api(ctx)
    found, net = movements(ctx, api, payout_id)
    if net != int(payout["amount"]):
        raise PermanentError(
            f"the balance transactions of payout {payout_id} come to {net}, "
            f"not the payout's {payout['amount']} (minor units)"
        )
    lines, matches = entry_lines(ctx, payout, found)

    if move_id is None:
        move_id = ctx.odoo.load_record(
            "account.move",
            xmlid,
            {
                "move_type": "entry",
                "journal_id/.id": ctx.catalog.journal(ctx.mapping.payouts.bank_journal),
                "currency_id/.id": ctx.catalog.currency(iso(str(payout["currency"]))),
                "date": _date(payout.get("arrival_date") or payout.get("created")),
                "ref": f"Stripe payout {payout_id}",
            },
        )
        state = "draft"
        ctx.audit(
            system="odoo",
            model="account.move",
            record_id=move_id,
            operation="create",
            fields=["move_type", "journal_id", "currency_id", "date", "ref"],
            note=f"payout {payout_id}",
        )
        _link(ctx, payout_id, move_id, state)

    if state == "draft":
        commands: list[Any] = [(5, 0, 0), *((0, 0, line) for line in lines)]
        ctx.odoo.call("account.move", "write", [move_id], {"line_ids": commands})
        ctx.odoo.act("account.move", "action_post", [move_id])
        state = "posted"
        ctx.audit(
            system="odoo",
            model="account.move",
            record_id=move_id,
            operation="post",
            fields=["line_ids", "state"],
            note=f"payout {payout_id}: {len(lines)} lines",
        )
        _link(ctx, payout_id, move_id, state)

    if state == "posted":
        match_payments(ctx, move_id, matches)
        _link(ctx, payout_id, move_id, "reconciled")
    ctx.landed.add(f"stripe:payout:{payout_id}")
    return move_id


def match_payments(ctx: SyncContext, move_id: int, matches: dict[str, int]) -> None:
    """Reconcile each matched entry line with its payment's line, per account.

    One call per account: the lines of an account net to zero together, so
    Odoo matches them all at once. Lines matched by an earlier attempt are left
    out, so a retry does only what is left.
    """
    mine = ctx.odoo.search_read(
        "account.move.line",
        [("move_id", "=", move_id)],
        ["name", "account_id", "reconciled"],
    )
    theirs = {
        row["id"]: row
        for row in ctx.odoo.read(
            "account.move.line", sorted(matches.values()), ["reconciled"]
        )
    }
    by_account: dict[int, list[int]] = {}
    for line in mine:
        counterpart = matches.get(line["name"])
        if counterpart is None or line["reconciled"]:
            continue
        if theirs.get(counterpart, {}).get("reconciled"):
            continue
        by_account.setdefault(line["account_id"][0], []).extend(
            [line["id"], counterpart]
        )
    for account, line_ids in sorted(by_account.items()):
        ctx.odoo.act("account.move.line", "reconcile", line_ids)
        ctx.audit(
            system="odoo",
            model="account.move.line",
            record_id=move_id,
            operation="reconcile",
            fields=["amount_residual", "reconciled"],
            note=f"{len(line_ids) // 2} payments on account {account}",
        )


def _link(ctx: SyncContext, payout_id: str, move_id: int, state: str) -> None:
    """Record the payout's entry and how far it got.

    Not through ``SyncContext.link``, which gives every new object a customer
    account of its own: a payout belongs to no customer.
    """
    now = utcnow()
    with ctx.runtime.store.session() as session:
        xref = session.scalars(
            select(CrossReference).where(
                CrossReference.system == "stripe",
                CrossReference.object_type == "payout",
                CrossReference.external_id == payout_id,
            )
        ).one_or_none()
        if xref is None:
            xref = CrossReference(
                system="stripe",
                object_type="payout",
                external_id=payout_id,
                created_at=now,
            )
            session.add(xref)
        xref.odoo_model = "account.move"
        xref.odoo_id = move_id
        xref.state = state
        xref.updated_at = now


@handles(
    "stripe",
    "payout.paid",
    "payout.reconciliation_completed",
    lock=stripe_lock,
    queue="default",
)
def sync_paid_payout(ctx: SyncContext, event: Event) -> None:
    """Book a paid payout in the bank journal, matched to what it paid out."""
    payout = event.object
    payout_id = str(payout["id"])
    if ctx.is_stale("stripe", "payout", payout_id, event.created, RANK["paid"]):
        raise Skip("stale: the payout failed or was canceled later")
    if payout.get("status") != "paid":
        raise Skip(f"payout is {payout.get('status')}; only paid payouts are booked")
    done = ctx.xref("stripe", "payout", payout_id)
    if done is not None and done.state == "reconciled":
        raise Skip("payout already booked")
    if payout.get("automatic") is False:
        raise Skip("manual payout: Stripe does not list its balance transactions")
    if payout.get("reconciliation_status") == "in_progress":
        # The event shows the payout as it was; Stripe may have finished since.
        payout = _api(ctx).get(f"/v1/payouts/{payout_id}")
    if payout.get("reconciliation_status") == "in_progress":
        raise PrerequisiteMissing(
            f"payout {payout_id} waits for Stripe to finish its reconciliation",
            key=f"stripe:payout:{payout_id}",
            delay=60,
        )
    book_payout(ctx, payout)
    ctx.set_version(
        "stripe",
        "payout",
        payout_id,
        source_ts=event.created,
        rank=RANK["paid"],
        status="paid",
    )


@handles(
    "stripe", "payout.failed", "payout.canceled", lock=stripe_lock, queue="default"
)
def sync_failed_payout(ctx: SyncContext, event: Event) -> None:
    """The money did not reach the bank: cancel the payout's entry, if any."""
    payout_id = str(event.object["id"])
    status = "canceled" if event.type == "payout.canceled" else "failed"
    # Remember it first: a paid event arriving later is then stale.
    ctx.set_version(
        "stripe",
        "payout",
        payout_id,
        source_ts=event.created,
        rank=RANK[status],
        status=status,
    )
    xref = ctx.xref("stripe", "payout", payout_id)
    move_id = int(xref.odoo_id) if xref is not None and xref.odoo_id else None
    state = xref.state if xref is not None else None
    if move_id is None:
        move_id, state = ctx.recover("account.move", payout_xmlid(payout_id))
    if move_id is None:
        raise Skip(f"payout {status} before it was booked: nothing to undo")
    if state in ("cancelled", "cancel"):
        raise Skip("payout entry already cancelled")
    if state != "draft":
        # Back to draft first: that undoes the matching with the payments.
        ctx.odoo.act("account.move", "button_draft", [move_id])
    ctx.odoo.act("account.move", "button_cancel", [move_id])
    ctx.audit(
        system="odoo",
        model="account.move",
        record_id=move_id,
        operation="cancel",
        fields=["state"],
        note=f"payout {status}",
    )
    _link(ctx, payout_id, move_id, "cancelled")
