"""Stripe histories for the ledger tests: customers who paid, some refunded."""

from __future__ import annotations

from typing import Any

from worker.scenarios import StripeStory, stripe_payout

MONTH = 30 * 86_400


def paying_customers(
    customers: int, invoices: int, refunds: int, *, prefix: str = "led"
) -> list[StripeStory]:
    """``customers`` stories of ``invoices`` paid monthly invoices each; the first
    ``refunds`` customers get their first payment refunded, every other one in part.
    """
    stories = []
    for n in range(customers):
        story = StripeStory(customer_id=f"cus_{prefix}{n}", prefix=f"{prefix}{n}")
        story.customer_created(f"Ledger Customer {n} GmbH", f"ap{n}@ledger.example")
        sub = story.subscribe("price_pro_monthly", "prod_price_pro_monthly", 4900 + n)
        intents = []
        for _ in range(invoices):
            invoice = story.invoice(sub)
            story.finalize(invoice)
            intents.append(story.pay(invoice))
            story.advance(MONTH)
        if n < refunds:
            story.refund(intents[0], None if n % 2 == 0 else 1200)
        stories.append(story)
    return stories


def events_of(stories: list[StripeStory]) -> list[dict[str, Any]]:
    return [event for story in stories for event in story.events]


def payout_of(
    stories: list[StripeStory], payout_id: str = "po_ledger1"
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    last = max(story.now for story in stories)
    return stripe_payout(payout_id, stories, created=last + 86_400)
