"""Any order, any duplicates, same books: the property revsync exists for.

Hypothesis writes customer lifecycles (sign-up, trial, invoices, failed and
recovered payments, partial payments, upgrades, downgrades, refunds, disputes won
and lost, cancellation) as Stripe would emit them, in both payload shapes. The
ordered stream gives one set of books; every event delivered one to three times in
a random order, with some applied twice as if a worker died after writing to Odoo,
must give exactly the same books, with no record twice.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import sibling_redis
from tests.lifecycle.harness import Books, write_mapping
from worker.money import to_amount
from worker.scenarios import StripeStory
from worker.store import InboxEvent, InboxStatus, Store

EXAMPLES = int(os.environ.get("REVSYNC_PROPERTY_EXAMPLES", "100"))


@st.composite
def lifecycles(draw: st.DrawFn) -> StripeStory:
    shape = draw(st.sampled_from(["basil", "legacy"]))
    currency = draw(st.sampled_from(["usd", "eur", "jpy"]))
    story = StripeStory(
        customer_id="cus_prop", shape=shape, currency=currency, prefix="p"
    )
    story.customer_created("Property Test Ltd", "ap@property.example", "DE")
    trial = draw(st.booleans())
    price = draw(st.sampled_from([("price_pro_monthly", 4900), ("price_team", 12000)]))
    sub = story.subscribe(
        price[0], "prod_" + price[0], price[1], draw(st.integers(1, 3)), trial
    )
    if trial:
        story.trial_will_end(sub)
        story.activate(sub)
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            quantity = draw(st.integers(1, 4))
            unit_amount = draw(st.sampled_from([4900, 5900, 12000]))
            current = story.expected["subscriptions"][sub]
            if (quantity, unit_amount) != (current["quantity"], current["unit_amount"]):
                story.change_plan(sub, quantity=quantity, unit_amount=unit_amount)
        invoice = story.invoice(sub)
        story.finalize(invoice)
        outcome = draw(
            st.sampled_from(["pay", "fail_then_pay", "partial", "fail", "void"])
        )
        payment = None
        if outcome == "void":
            story.void(invoice)
            continue
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
        after = draw(st.sampled_from(["none", "none", "refund", "dispute"]))
        paid = story.expected["payments"][payment]["amount"]
        if after == "refund":
            story.refund(payment, amount=draw(st.sampled_from([paid, paid // 2])))
        elif after == "dispute":
            story.dispute(payment, outcome=draw(st.sampled_from(["won", "lost"])))
    if draw(st.booleans()):
        story.cancel(sub)
    return story


@st.composite
def deliveries(draw: st.DrawFn) -> tuple[StripeStory, list[dict[str, Any]], set[int]]:
    story = draw(lifecycles())
    events = story.events
    repeated = [e for e in events for _ in range(draw(st.integers(1, 3)))]
    shuffled = draw(st.permutations(repeated))
    # Positions (in first-arrival order) applied twice, as after a worker crash.
    crashed = draw(st.sets(st.integers(0, len(events) - 1), max_size=3))
    return story, shuffled, crashed


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Store]:
    directory = tmp_path_factory.mktemp("books")
    pair = (
        Store(f"sqlite:///{directory}/ordered.db"),
        Store(f"sqlite:///{directory}/shuffled.db"),
    )
    for store in pair:
        store.upgrade()
    return pair


@pytest.fixture(scope="module")
def books_redis(redis_url: str) -> str:
    # A database no worker listens to: wake-ups published here are never consumed.
    return sibling_redis(redis_url, 2)


@pytest.fixture(scope="module")
def mapping(tmp_path_factory: pytest.TempPathFactory) -> str:
    return write_mapping(tmp_path_factory.mktemp("mapping"))


def replay_as_if_crashed(target: Books, inbox_ids: list[int]) -> None:
    """Run applied events again as a redelivered task would after a worker died."""
    with target.store.session() as session:
        for inbox_id in inbox_ids:
            row = session.get(InboxEvent, inbox_id)
            assert row is not None
            if row.status in (InboxStatus.DONE, InboxStatus.SKIPPED):
                row.status = InboxStatus.PROCESSING
    target.process(inbox_ids)


def expected_books(story: StripeStory, target: Books) -> None:
    """The Odoo books say what Stripe says, invoice by invoice."""
    moves = {
        row["payment_reference"]: row
        for row in target.sandbox.records(
            "account.move", domain=[("move_type", "=", "out_invoice")]
        )
    }
    for invoice_id, invoice in story.expected["invoices"].items():
        move = moves[invoice_id]
        assert move["amount_total"] == pytest.approx(
            to_amount(invoice["total"], invoice["currency"])
        )
        if invoice["status"] == "void":
            assert move["state"] == "cancel"
        elif invoice["status"] == "paid":
            assert move["payment_state"] in ("paid", "in_payment")
        else:
            assert move["state"] == "posted"
            assert move["amount_residual"] == pytest.approx(
                to_amount(invoice["amount_remaining"], invoice["currency"])
            )


class TestAnyOrderAnyDuplicates:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )
    @given(case=deliveries())
    def test_shuffled_duplicated_stream_leaves_the_books_of_the_ordered_one(
        self, case, stores, books_redis, mapping
    ) -> None:
        story, shuffled, crashed = case

        ordered_books = Books(stores[0], books_redis, mapping)
        try:
            ordered_books.process(ordered_books.deliver(story.events))
            expected = ordered_books.snapshot()
            assert ordered_books.failures() == []
            expected_books(story, ordered_books)
        finally:
            ordered_books.close()

        shuffled_books = Books(stores[1], books_redis, mapping)
        try:
            arrived = shuffled_books.deliver(shuffled)
            shuffled_books.process(arrived)
            replay_as_if_crashed(
                shuffled_books,
                [arrived[i] for i in sorted(crashed) if i < len(arrived)],
            )
            assert shuffled_books.failures() == []
            assert shuffled_books.duplicates() == {}
            assert shuffled_books.snapshot() == expected
        finally:
            shuffled_books.close()
