"""Odoo calls per Stripe event type, next to the budget revsync declares for each.

Plays customer lifecycles in both payload shapes through the real pipeline into the
Odoo sandbox and counts the XML-RPC calls each event costs once the worker's caches
(products, currencies, journals, tags) are warm, which is the steady state of a
worker in production. Exits 1 when any event type goes over its budget.

    python -m bench.rpc_budget
"""

from __future__ import annotations

import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from tests.lifecycle.harness import Books, write_mapping
from worker.scenarios import Coupon, StripeStory
from worker.store import Store

# The most calls one event of the type may cost, with what they are for.
BUDGET: dict[str, tuple[int, str]] = {
    "customer.created": (1, "load partner"),
    "customer.updated": (1, "load partner"),
    "customer.subscription.created": (
        6,
        "load order, write lines, read line ids, confirm, write tag (+ tag lookup)",
    ),
    "customer.subscription.updated": (5, "write lines, read line ids, cancel, tag"),
    "customer.subscription.deleted": (2, "cancel order, write tag"),
    "customer.subscription.trial_will_end": (1, "load activity"),
    "invoice.created": (
        3,
        "look the move up by its external id (an interrupted attempt may have "
        "made it), load header, write lines",
    ),
    "invoice.finalized": (3, "load header, write lines, post"),
    "invoice.updated": (3, "load header, write lines, post"),
    "invoice.paid": (
        5,
        "post if new, look the payment up by its Stripe id, then the payment "
        "wizard (create, run)",
    ),
    "invoice.payment_succeeded": (5, "as invoice.paid"),
    "invoice.payment_failed": (4, "post if new, load activity, write tag"),
    "invoice_payment.paid": (
        5,
        "look the payment up by its Stripe id, payment wizard (create, run), "
        "clear dunning",
    ),
    "invoice.voided": (2, "reset to draft, cancel"),
    "payment_intent.succeeded": (
        5,
        "payment lookup by Stripe id and wizard (2) when it names its invoice; "
        "dunning activity done, tag",
    ),
    "charge.succeeded": (5, "as payment_intent.succeeded"),
    "refund.created": (
        8,
        "invoice lines (for their taxes), credit note lookup by external id, "
        "load, lines, post, payment lookup by Stripe id, refund wizard (2)",
    ),
    "charge.refunded": (8, "as refund.created, once per refund"),
    "charge.dispute.created": (1, "load activity"),
    "charge.dispute.closed": (
        9,
        "invoice lines (for their taxes), credit note lookup and (3), payment "
        "lookup and outbound wizard (2), activity",
    ),
    "credit_note.created": (
        6,
        "credit note lookup by external id, load, lines, post; when issued "
        "before payment, find its receivable line and match it with the invoice",
    ),
}
DEFAULT_BUDGET = (0, "no Odoo write expected")


def stories() -> list[StripeStory]:
    told = []
    for number, shape in enumerate(["basil", "legacy"] * 2):
        story = StripeStory(
            customer_id=f"cus_budget{number}",
            shape=shape,
            currency="usd",
            prefix=f"b{number}",
        )
        story.customer_created("Budget Co", "ap@budget.example", "US")
        story.customer_updated(name="Budget Company")
        sub = story.subscribe(
            "price_pro_monthly", "prod_price_pro_monthly", 4900, 1, True
        )
        story.trial_will_end(sub)
        story.activate(sub)
        first = story.invoice(sub)
        story.finalize(first)
        story.fail_payment(first)
        paid = story.pay(first)
        story.recover(sub)
        story.change_plan(sub, quantity=2, unit_amount=4900)
        # Discounts ride on the invoice lines: no Odoo call of their own.
        second = story.invoice(
            sub,
            discounts=[
                Coupon("LOYAL10", percent_off=10),
                Coupon("FIVE", amount_off=500),
            ],
        )
        story.finalize(second)
        story.pay(second)
        story.refund(paid, amount=2450)
        story.dispute(paid, outcome="lost")
        third = story.invoice(sub)
        story.finalize(third)
        story.credit_note(third, 1000)
        story.void(third)
        story.cancel(sub)
        told.append(story)
    return told


def measure(redis_url: str) -> dict[str, list[int]]:
    """Calls per event, by event type, after a first story warmed the caches."""
    directory = Path(tempfile.mkdtemp(prefix="revsync-budget-"))
    store = Store(f"sqlite:///{directory / 'budget.db'}")
    store.upgrade()
    books = Books(store, redis_url, write_mapping(directory))
    costs: dict[str, list[int]] = defaultdict(list)
    try:
        for index, story in enumerate(stories()):
            for inbox_id, event in zip(
                books.deliver(story.events), story.events, strict=True
            ):
                before = sum(
                    n
                    for (model, _), n in books.sandbox.calls.items()
                    if model != "common"
                )
                books.apply(inbox_id)
                after = sum(
                    n
                    for (model, _), n in books.sandbox.calls.items()
                    if model != "common"
                )
                if index >= 1:
                    costs[event["type"]].append(after - before)
    finally:
        books.close()
    return costs


def report(costs: dict[str, list[int]]) -> list[str]:
    """Print the table; return the event types over budget."""
    over = []
    header = f"{'event type':<40} {'max':>4} {'mean':>6} {'budget':>6}"
    print(f"{header}  what the budget pays for")
    for event_type in sorted(costs):
        calls = costs[event_type]
        budget, reason = BUDGET.get(event_type, DEFAULT_BUDGET)
        worst = max(calls)
        flag = "" if worst <= budget else "  OVER BUDGET"
        if worst > budget:
            over.append(event_type)
        print(
            f"{event_type:<40} {worst:>4} {sum(calls) / len(calls):>6.2f} "
            f"{budget:>6}  {reason}{flag}"
        )
    return over


def main() -> int:
    from worker.logs import configure

    # The table is the output: the pipeline's info lines would bury it.
    configure(level="WARNING")
    redis_url = sys.argv[1] if len(sys.argv) > 1 else "redis://127.0.0.1:6379/14"
    over = report(measure(redis_url))
    print("budget holds" if not over else f"over budget: {', '.join(over)}")
    return 1 if over else 0


if __name__ == "__main__":
    raise SystemExit(main())
