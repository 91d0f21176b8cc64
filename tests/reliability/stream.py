"""The stream the reliability scenarios send, and the books it must leave.

A few dozen customers, each with a lifecycle drawn from a fixed seed (trials,
upgrades, failed and partial payments, refunds, disputes, cancellations, in both
payload shapes), interleaved as Stripe would deliver them for many customers at
once. The expected books come from the same stream applied in order, one event
at a time, by ``tests.lifecycle.harness.Books`` against a sandbox of their own.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from tests.lifecycle.harness import Books, write_mapping
from worker.odoo.sandbox import Sandbox
from worker.scenarios import StripeStory
from worker.store import AuditEntry, Store

NO_AUDIT_GAPS: dict[str, list[Any]] = {"unaudited": [], "created_twice": []}
PRICES = [("price_pro_monthly", 4900), ("price_team", 12000)]


def lifecycle(index: int, rng: random.Random) -> StripeStory:
    """One customer's story; the same ``index`` and seed give the same events."""
    shape = rng.choice(["basil", "legacy"])
    story = StripeStory(
        customer_id=f"cus_rel{index:03d}",
        shape=shape,
        currency=rng.choice(["usd", "eur", "jpy"]),
        prefix=f"r{index}",
    )
    story.customer_created(f"Reliability {index} Ltd", f"ap{index}@rel.example", "DE")
    trial = rng.random() < 0.4
    price, amount = rng.choice(PRICES)
    sub = story.subscribe(price, "prod_" + price, amount, rng.randint(1, 3), trial)
    if trial:
        story.trial_will_end(sub)
        story.activate(sub)
    for _ in range(rng.randint(1, 3)):
        if rng.random() < 0.3:
            quantity = rng.randint(1, 4)
            unit_amount = rng.choice([4900, 5900, 12000])
            current = story.expected["subscriptions"][sub]
            if (quantity, unit_amount) != (current["quantity"], current["unit_amount"]):
                story.change_plan(sub, quantity=quantity, unit_amount=unit_amount)
        invoice = story.invoice(sub)
        story.finalize(invoice)
        outcome = rng.choice(["pay", "pay", "fail_then_pay", "partial", "fail", "void"])
        if outcome == "void":
            story.void(invoice)
            continue
        payment = None
        if outcome in ("fail", "fail_then_pay"):
            story.fail_payment(invoice)
        if outcome == "partial" and shape == "basil":
            total = story.expected["invoices"][invoice]["total"]
            story.pay(invoice, amount=total // 3)
            payment = story.pay(invoice)
        elif outcome != "fail":
            payment = story.pay(invoice)
            if outcome == "fail_then_pay":
                story.recover(sub)
        if payment is None:
            continue
        after = rng.choice(["none", "none", "none", "refund", "dispute"])
        paid = story.expected["payments"][payment]["amount"]
        if after == "refund":
            story.refund(payment, amount=rng.choice([paid, paid // 2]))
        elif after == "dispute":
            story.dispute(payment, outcome=rng.choice(["won", "lost"]))
    if rng.random() < 0.3:
        story.cancel(sub)
    return story


def interleave(stories: list[StripeStory], rng: random.Random) -> list[dict[str, Any]]:
    """All events, each customer's in its own order, customers mixed at random."""
    queues = [list(story.events) for story in stories]
    events: list[dict[str, Any]] = []
    while any(queues):
        queue = rng.choice([q for q in queues if q])
        events.append(queue.pop(0))
    return events


@dataclass
class Stream:
    """The events to send and the books they must leave in Odoo."""

    events: list[dict[str, Any]]
    expected: dict[str, Any]

    @property
    def ids(self) -> list[str]:
        return [event["id"] for event in self.events]


def created_records(sandbox: Sandbox) -> list[tuple[str, int]]:
    """Every record of the models revsync writes, in a sandbox only it writes to."""
    records = sandbox.records
    found = [
        ("res.partner", row["id"])
        for row in records(
            "res.partner",
            domain=[("ref", "!=", False), ("active", "in", [True, False])],
        )
    ]
    found += [("sale.order", row["id"]) for row in records("sale.order")]
    found += [
        ("account.move", row["id"])
        for row in records(
            "account.move", domain=[("move_type", "in", ["out_invoice", "out_refund"])]
        )
    ]
    found += [("account.payment", row["id"]) for row in records("account.payment")]
    found += [("mail.activity", row["id"]) for row in records("mail.activity")]
    return found


def audit_gaps(store: Store, sandbox: Sandbox) -> dict[str, list[Any]]:
    """Records no audit row names, and records with more than one create row."""
    with store.session() as session:
        named = {
            (model, record_id)
            for model, record_id in session.execute(
                select(AuditEntry.model, AuditEntry.record_id).where(
                    AuditEntry.system == "odoo"
                )
            )
        }
        creates = Counter(
            (model, record_id)
            for model, record_id in session.execute(
                select(AuditEntry.model, AuditEntry.record_id).where(
                    AuditEntry.system == "odoo", AuditEntry.operation == "create"
                )
            )
        )
    return {
        "unaudited": [
            (model, record_id)
            for model, record_id in created_records(sandbox)
            if (model, str(record_id)) not in named
        ],
        "created_twice": [key for key, n in creates.items() if n > 1],
    }


def build_stream(customers: int, seed: int, directory: Path, redis_url: str) -> Stream:
    """The stream of ``customers`` lifecycles and its books applied in order."""
    rng = random.Random(seed)
    stories = [lifecycle(index, rng) for index in range(customers)]
    events = interleave(stories, rng)
    store = Store(f"sqlite:///{directory}/ordered.db")
    store.upgrade()
    books = Books(store, redis_url, write_mapping(directory))
    try:
        books.process(books.deliver(events))
        failures = books.failures()
        assert failures == [], f"the ordered stream itself fails: {failures}"
        assert books.duplicates() == {}
        # The audit check holds for the stream applied in order, without faults.
        assert audit_gaps(store, books.sandbox) == {
            "unaudited": [],
            "created_twice": [],
        }
        expected = books.snapshot()
    finally:
        books.close()
    return Stream(events=events, expected=expected)
